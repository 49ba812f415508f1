"""Trained weights: safetensors files with metadata, listed with their sha256 in `weights/manifest.json`.

A weights file carries, in its safetensors metadata, the architecture (registry name), the config it was built
with (JSON) and a training summary (JSON). The manifest maps each model name to its file, sha256, params, MACs,
what it was trained on and its metrics. Nothing here unpickles: safetensors and JSON only.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from makeup.models import create_model, get_card
from makeup.models.working_size import AtWorkingSize, check_working_size, gmacs_at_working_size
from makeup.bench.profile import count_macs, count_params, example_inputs

WEIGHTS_FORMAT = "makeup-weights/1"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# A safetensors header is a few hundred bytes per tensor; anything larger means a corrupt length field.
MAX_HEADER_BYTES = 64 * 2**20
UNTRAINED_STATUS = "NONE (untrained, random init)"


class WeightsError(Exception):
    """A weights file or the manifest cannot be used; the message says what is wrong and what to do."""


class WeightsMissingError(WeightsError):
    """No trained weights are listed for a model, or the listed file is not there."""


class ChecksumMismatchError(WeightsError):
    """The file's sha256 differs from the manifest's: it was changed, replaced or damaged."""


class WrongArchitectureError(WeightsError):
    """The file holds weights of another architecture or config than the one asked for."""


class CorruptWeightsError(WeightsError):
    """The file is truncated or is not a readable safetensors file."""


class ManifestError(WeightsError):
    """`manifest.json` is unreadable or lists an unsafe file name."""


class UntrainedModelWarning(UserWarning):
    """A model was built with random weights because no trained ones exist."""


def default_weights_dir() -> Path:
    """`$MAKEUP_WEIGHTS_DIR` if set, else the repository's `weights/` folder."""
    configured = os.environ.get("MAKEUP_WEIGHTS_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "weights"


def _weights_dir(weights_dir: str | Path | None) -> Path:
    return Path(weights_dir) if weights_dir is not None else default_weights_dir()


def read_manifest(weights_dir: str | Path | None = None) -> dict[str, Any]:
    """The manifest of `weights_dir` (`{"format": 1, "models": {name: entry}}`); empty when there is none."""
    path = _weights_dir(weights_dir) / MANIFEST_NAME
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "models": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ManifestError(f"cannot read {path}: {error}; restore it from the repository or delete it") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ManifestError(f"{path} has no 'models' mapping; restore it from the repository")
    return manifest


def _manifest_entry(name: str, weights_dir: Path) -> dict[str, Any] | None:
    entry = read_manifest(weights_dir)["models"].get(name)
    if entry is None:
        return None
    file_name = entry.get("file", "") if isinstance(entry, dict) else ""
    # The manifest may come from elsewhere: only plain file names inside weights_dir are allowed.
    if not file_name or Path(file_name).name != file_name or file_name.startswith("."):
        raise ManifestError(
            f"{weights_dir / MANIFEST_NAME} lists {file_name!r} for {name!r}; expected a plain file name in "
            f"{weights_dir}; restore the manifest from the repository"
        )
    return entry


def has_weights(name: str, weights_dir: str | Path | None = None) -> bool:
    """Whether trained weights for `name` are listed in the manifest and their file is present."""
    directory = _weights_dir(weights_dir)
    entry = _manifest_entry(name, directory)
    return entry is not None and (directory / entry["file"]).is_file()


def weights_status(name: str, weights_dir: str | Path | None = None) -> str:
    """A one-line status to show next to a model: its weights file, or that it is untrained."""
    if get_card(name).kind == "classical":
        return "not needed (classical method)"
    directory = _weights_dir(weights_dir)
    entry = _manifest_entry(name, directory)
    if entry is None:
        return UNTRAINED_STATUS
    if not (directory / entry["file"]).is_file():
        return f"MISSING FILE {entry['file']} (listed in the manifest)"
    return f"{entry['file']} (trained on {entry.get('trained_on') or 'unknown data'})"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_weights_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors metadata of a weights file, after checking the file is complete.

    Raises `CorruptWeightsError` for a file that is truncated, padded or not safetensors at all.
    """
    path = Path(path)
    size = path.stat().st_size
    what_to_do = "download or export it again"
    with open(path, "rb") as handle:
        length_bytes = handle.read(8)
        if len(length_bytes) < 8:
            raise CorruptWeightsError(f"{path} is {size} bytes, too short for a safetensors file; {what_to_do}")
        header_length = int.from_bytes(length_bytes, "little")
        if header_length > min(MAX_HEADER_BYTES, size - 8):
            raise CorruptWeightsError(
                f"{path} is truncated or not a safetensors file (header says {header_length} bytes, file has "
                f"{size}); {what_to_do}"
            )
        try:
            header = json.loads(handle.read(header_length))
            data_end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"),
                           default=0)
        except (ValueError, TypeError, KeyError, IndexError):
            raise CorruptWeightsError(f"{path} has an unreadable safetensors header; {what_to_do}") from None
    expected = 8 + header_length + data_end
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise CorruptWeightsError(f"{path} is {state} ({size} bytes, expected {expected}); {what_to_do}")
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise WrongArchitectureError(
            f"{path} is a safetensors file but not a makeup weights file (no '{WEIGHTS_FORMAT}' metadata); "
            "export weights with makeup.weights.save_weights"
        )
    return metadata


def load_weights_file(path: str | Path, name: str | None = None, device: torch.device | str = "cpu", *,
                      at_working_size: bool = True) -> nn.Module:
    """Build the model a weights file describes and load it, in eval mode, without consulting a manifest.

    `name`, if given, must match the file's architecture (else `WrongArchitectureError`). Weights trained at a
    fixed crop size say so (metadata `working_size`): they come wrapped in `AtWorkingSize`, so they run at that
    size inside crops of any size, unless `at_working_size=False` (the raw model, e.g. to distil from).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"weights file {path} does not exist; check the path")
    metadata = read_weights_metadata(path)
    architecture = metadata.get("architecture", "")
    if name is not None and architecture != name:
        raise WrongArchitectureError(
            f"{path} holds weights for {architecture!r}, not {name!r}; load it as {architecture!r} or pick the "
            f"file made for {name!r}"
        )
    try:
        config = json.loads(metadata.get("config", "{}"))
        model = create_model(architecture, **config)
    except (LookupError, TypeError, ValueError) as error:
        raise WrongArchitectureError(
            f"{path} describes a model this version cannot build ({error}); use weights exported by this version"
        ) from None
    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptWeightsError(f"{path} cannot be read ({error}); download or export it again") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WrongArchitectureError(
            f"{path} does not fit {architecture!r} with config {config}: {str(error).splitlines()[0]}; the file "
            "was exported from a different model version"
        ) from None
    working_size = metadata.get("working_size")
    if working_size and at_working_size:
        model = AtWorkingSize(model, int(working_size))
    model.has_trained_weights = True
    model.training_summary = json.loads(metadata.get("training", "{}"))
    return model.to(device).eval()


def load_model(name: str, device: torch.device | str = "cpu", weights_dir: str | Path | None = None, *,
               allow_random: bool = False) -> nn.Module:
    """Build `name` from its card and load its trained weights from `weights_dir` (eval mode, on `device`).

    The file must be listed in the manifest, complete, match its sha256 and hold this architecture; each
    failure raises its own `WeightsError`. A model with no trained weights raises `WeightsMissingError` unless
    `allow_random=True`, which returns random weights with an `UntrainedModelWarning` and
    `model.has_trained_weights = False`. Classical methods need no weights.
    """
    card = get_card(name)
    directory = _weights_dir(weights_dir)
    if card.kind == "classical":
        model = create_model(name)
        return model.to(device).eval() if isinstance(model, nn.Module) else model
    entry = _manifest_entry(name, directory)
    if entry is None:
        if not allow_random:
            raise WeightsMissingError(
                f"no trained weights for {name!r}: {directory / MANIFEST_NAME} does not list it, so the model is "
                f"untrained. Train and export it (see README, 'Training'), put its weights file and manifest "
                f"entry into {directory}, or pass allow_random=True to get random weights for testing"
            )
        warnings.warn(f"{name!r} has no trained weights: using a RANDOM initialisation, its outputs are "
                      "meaningless", UntrainedModelWarning, stacklevel=2)
        model = create_model(name)
        model.has_trained_weights = False
        model.training_summary = {}
        return model.to(device).eval()
    path = directory / entry["file"]
    if not path.is_file():
        raise WeightsMissingError(
            f"the manifest lists {entry['file']} for {name!r} but {path} does not exist; download or export it "
            "again (or remove the entry from the manifest)"
        )
    read_weights_metadata(path)  # truncation first: it explains a checksum mismatch better than the checksum
    actual = file_sha256(path)
    if actual != entry.get("sha256"):
        raise ChecksumMismatchError(
            f"{path} has sha256 {actual}, the manifest expects {entry.get('sha256')}; the file was changed or "
            "damaged: download or export it again"
        )
    return load_weights_file(path, name=name, device=device)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_weights(model: nn.Module, name: str | None = None, weights_dir: str | Path | None = None, *,
                 dtype: torch.dtype = torch.float16, training: dict[str, Any] | None = None,
                 trained_on: str = "", metrics: dict[str, float] | None = None,
                 working_size: int | None = None, update_manifest: bool = True) -> Path:
    """Write `model`'s weights to `<weights_dir>/<card's weights file>` and list them in the manifest.

    `name` defaults to the `model_name` that `create_model` set; the config stored is `model.model_config`.
    Floating tensors are stored as `dtype` (float16 halves the file; loading casts back to float32).
    `training` is a JSON-able summary (steps, data, losses) kept in the file's metadata; `trained_on` and
    `metrics` go into the manifest entry. `working_size` (px) marks weights trained at one crop size: loading
    then runs them at that size inside larger crops (`AtWorkingSize`). The file and the manifest are each
    replaced atomically.
    """
    name = name or getattr(model, "model_name", None)
    if name is None:
        raise ValueError("save_weights needs the model's registry name: pass name= or build it with create_model")
    card = get_card(name)
    config = getattr(model, "model_config", card.config)
    directory = _weights_dir(weights_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / card.weights_file
    # clone: safetensors refuses tensors that share memory (tied weights, views)
    tensors = {
        key: value.detach().to("cpu", dtype if value.is_floating_point() else value.dtype).contiguous().clone()
        for key, value in model.state_dict().items()
    }
    metadata = {
        "format": WEIGHTS_FORMAT,
        "architecture": name,
        "config": json.dumps(config, sort_keys=True),
        "training": json.dumps(training or {}, sort_keys=True),
        "dtype": str(dtype).removeprefix("torch."),
    }
    if working_size:
        metadata["working_size"] = str(check_working_size(working_size))  # checked before anything is written
    _atomic_write_bytes(path, save(tensors, metadata=metadata))
    if update_manifest:
        if config == card.config:
            gmacs = card.gmacs
        else:
            was_training = model.training
            model.eval()
            device = next(model.parameters()).device
            gmacs = count_macs(model, *example_inputs(card.kind, device=device)) / 1e9
            model.train(was_training)
        gmacs = gmacs_at_working_size(gmacs, working_size)
        manifest = read_manifest(directory)
        manifest["models"][name] = {
            "file": path.name,
            "sha256": file_sha256(path),
            "architecture": name,
            "config": config,
            "dtype": metadata["dtype"],
            "params": count_params(model),
            "gmacs": round(gmacs, 3),
            "trained_on": trained_on,
            "metrics": metrics or {},
        }
        if working_size:
            manifest["models"][name]["working_size"] = int(working_size)
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        _atomic_write_bytes(directory / MANIFEST_NAME, text.encode("utf-8"))
    return path
