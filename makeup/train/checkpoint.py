"""Atomic, pickle-free training checkpoints: models, optimisers, scaler, RNG states and step.

A checkpoint is a folder `checkpoints/step_000500/`:
- `models.safetensors` (or `models-00001-of-00003.safetensors` ... when sharded): every model's state dict,
  keys prefixed with the model's role (`generator.`, `disc_makeup.`, ...);
- `training.safetensors`: the tensors of the optimiser, scaler and RNG states;
- `state.json`: step, the non-tensor parts of those states (tensors referenced by key), the model names;
- `config.json`: the training config.
It is written under a temporary name, flushed to disk and renamed in one step, then `latest.json` is replaced
atomically: a run killed at any moment (even with SIGKILL) leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

LATEST_FILE = "latest.json"
STATE_FILE = "state.json"
TRAINING_FILE = "training.safetensors"
MODELS_STEM = "models"
CHECKPOINT_FORMAT = "makeup-train-checkpoint"


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message says which step, why, and that the previous one is kept."""


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or does not fit the models being trained."""


# ---- nested state <-> (tensors, JSON) ----------------------------------------------------------------------------


def flatten_state(value: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Replace every tensor in a nested dict/list/tuple by a reference; the tensors go into `tensors`.

    Dicts become `{"__dict__": [[key, value], ...]}` so integer keys (optimiser state ids) survive JSON.
    """
    if isinstance(value, torch.Tensor):
        key = prefix.rstrip(".")
        tensors[key] = value.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = prefix.rstrip(".")
        tensors[key] = torch.from_numpy(value.astype(np.int64) if value.dtype.kind in "ui" else value.copy())
        return {"__ndarray__": key, "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {"__dict__": [[k, flatten_state(v, tensors, f"{prefix}{k}.")] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [flatten_state(v, tensors, f"{prefix}{i}.") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"cannot store a {type(value).__name__} at {prefix!r} in a checkpoint")


def unflatten_state(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of `flatten_state`."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__ndarray__" in value:
            return tensors[value["__ndarray__"]].numpy().astype(value["dtype"])
        if "__dict__" in value:
            return {k: unflatten_state(v, tensors) for k, v in value["__dict__"]}
        if "__tuple__" in value:
            return tuple(unflatten_state(v, tensors) for v in value["__tuple__"])
        raise CheckpointError(f"unexpected entry in checkpoint state: {sorted(value)[:3]}")
    if isinstance(value, list):
        return [unflatten_state(v, tensors) for v in value]
    return value


# ---- RNG states ---------------------------------------------------------------------------------------------------


def rng_states() -> dict[str, Any]:
    """Python, numpy, torch CPU and (when present) CUDA generator states."""
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(states["numpy"]))
    torch.set_rng_state(states["torch"].to(torch.uint8))
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([state.to(torch.uint8) for state in states["cuda"]])


# ---- writing -----------------------------------------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path))
    _fsync_file(path)


def _shard(tensors: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Split into groups of at most `max_bytes` each (a single larger tensor gets a group of its own)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and max_bytes and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    return shards


def save_model_files(
    models: dict[str, torch.nn.Module], folder: Path, max_shard_bytes: int = 0, dtype: torch.dtype | None = None
) -> list[str]:
    """Write the models' state dicts (keys `role.name`) into one or several safetensors files; return their names."""
    tensors = {}
    for role, model in models.items():
        for key, tensor in model.state_dict().items():
            tensor = tensor.detach().cpu()
            if dtype is not None and tensor.is_floating_point():
                tensor = tensor.to(dtype)
            tensors[f"{role}.{key}"] = tensor.contiguous()
    shards = _shard(tensors, max_shard_bytes)
    if len(shards) == 1:
        names = [f"{MODELS_STEM}.safetensors"]
    else:
        names = [f"{MODELS_STEM}-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    for name, shard in zip(names, shards):
        _save_tensors(shard, folder / name)
    return names


@dataclass
class TrainingState:
    """What besides model weights a run needs to continue exactly where it stopped."""

    step: int
    optimizers: dict[str, dict[str, Any]]
    scaler: dict[str, Any]
    rng: dict[str, Any]
    extra: dict[str, Any]


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    models: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    scaler: torch.amp.GradScaler | None,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
    max_shard_bytes: int = 0,
    keep: int = 2,
    include_training_state: bool = True,
) -> Path:
    """Write `run_dir/checkpoints/step_NNNNNN/` atomically and point `latest.json` at it; keep the newest `keep`.

    With `include_training_state=False` only the models and config are written (a small, weights-only
    checkpoint to copy off a machine); such a checkpoint can start a run but not resume one exactly.
    """
    root = Path(run_dir) / "checkpoints"
    name = f"step_{step:08d}"
    temporary = root / f".{name}.tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        return _write_checkpoint(root, name, temporary, step, models, optimizers, scaler, config, extra,
                                 max_shard_bytes, keep, include_training_state)
    except OSError as error:  # a full disk, a lost mount, no permission: the previous checkpoint is untouched
        shutil.rmtree(temporary, ignore_errors=True)
        previous = find_checkpoint(run_dir)
        kept = f"the last good checkpoint, {previous.name}, is intact" if previous else "no earlier checkpoint exists"
        raise CheckpointWriteError(
            f"could not write the checkpoint of step {step} to {root}: {error.strerror or error}; {kept}. Free "
            "space (or fix the folder) and continue with --resume."
        ) from error


def _write_checkpoint(root: Path, name: str, temporary: Path, step: int, models, optimizers, scaler, config,
                      extra, max_shard_bytes: int, keep: int, include_training_state: bool) -> Path:
    final = root / name
    model_files = save_model_files(models, temporary, max_shard_bytes)
    state: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "models": {role: getattr(model, "model_name", type(model).__name__) for role, model in models.items()},
        "model_files": model_files,
        "extra": extra or {},
        "resumable": include_training_state,
    }
    if include_training_state:
        tensors: dict[str, torch.Tensor] = {}
        state["optimizers"] = {
            role: flatten_state(optimizer.state_dict(), tensors, f"optimizers.{role}.")
            for role, optimizer in optimizers.items()
        }
        state["scaler"] = flatten_state(scaler.state_dict() if scaler else {}, tensors, "scaler.")
        state["rng"] = flatten_state(rng_states(), tensors, "rng.")
        _save_tensors(tensors, temporary / TRAINING_FILE)
    (temporary / STATE_FILE).write_text(json.dumps(state, indent=1))
    (temporary / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for path in (temporary / STATE_FILE, temporary / "config.json"):
        _fsync_file(path)
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)
    _write_latest(root, name, step)
    _prune(root, keep)
    return final


def _write_latest(root: Path, name: str, step: int) -> None:
    _replace_json(root / LATEST_FILE, {"checkpoint": name, "step": step})


def _replace_json(path: Path, value: Any, indent: int | None = None) -> None:
    """Write `value` as JSON to `path` durably and in one step: readers see the old file or the new, never half."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=indent) + "\n")
    _fsync_file(temporary)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the renames themselves durable
    finally:
        os.close(directory)


def _prune(root: Path, keep: int) -> None:
    for stale in root.glob(".step_*.tmp"):  # left by a run killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    if keep <= 0:
        return
    finished = sorted(path for path in root.glob("step_*") if path.is_dir())
    for path in finished[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


# ---- reading -----------------------------------------------------------------------------------------------------


def find_checkpoint(path: str | Path) -> Path | None:
    """A checkpoint folder from a run folder (its latest), a `checkpoints/` folder, or a checkpoint folder itself."""
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    for root in (path / "checkpoints", path):
        latest = root / LATEST_FILE
        if latest.is_file():
            folder = root / json.loads(latest.read_text())["checkpoint"]
            if (folder / STATE_FILE).is_file():
                return folder
            # a kill while the same step was being rewritten: fall back on the newest complete checkpoint
            complete = sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file())
            if not complete:
                raise CheckpointError(f"{latest} points at {folder}, which is incomplete or was deleted")
            return complete[-1]
    return None


def read_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{folder} is not a readable checkpoint ({error})") from error
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{folder} is not a makeup training checkpoint")
    return state


def load_model_tensors(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """{role: state_dict} from a checkpoint's model file(s)."""
    from safetensors.torch import load_file

    state = read_state(folder)
    by_role: dict[str, dict[str, torch.Tensor]] = {}
    for name in state["model_files"]:
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {folder} lacks its model file {name}")
        for key, tensor in load_file(str(path)).items():
            role, _, rest = key.partition(".")
            by_role.setdefault(role, {})[rest] = tensor
    return by_role


def load_models(folder: Path, models: dict[str, torch.nn.Module]) -> None:
    """Load each model's weights from the checkpoint, converting to the model's dtype."""
    tensors = load_model_tensors(folder)
    for role, model in models.items():
        if role not in tensors:
            raise CheckpointError(f"checkpoint {folder} has no weights for {role!r} (it has {sorted(tensors)})")
        try:
            model.load_state_dict(tensors[role])
        except RuntimeError as error:
            raise CheckpointError(
                f"checkpoint {folder}: the {role} weights do not fit the model being trained ({error})"
            ) from error


def load_training_state(folder: Path) -> TrainingState:
    """Optimiser, scaler and RNG states of a resumable checkpoint."""
    from safetensors.torch import load_file

    state = read_state(folder)
    if not state.get("resumable"):
        raise CheckpointError(
            f"{folder} holds weights only (no optimiser or RNG state); start a new run from it with init_from"
        )
    tensors = load_file(str(folder / TRAINING_FILE))
    return TrainingState(
        step=int(state["step"]),
        optimizers={role: unflatten_state(value, tensors) for role, value in state["optimizers"].items()},
        scaler=unflatten_state(state["scaler"], tensors),
        rng=unflatten_state(state["rng"], tensors),
        extra=state.get("extra", {}),
    )


# ---- lineage -----------------------------------------------------------------------------------------------------

STARTED_FROM_FILE = "started_from.json"


def load_generator_weights(path: Path, generator: torch.nn.Module) -> None:
    """Start `generator` from an exported weights file (e.g. the shipped teacher) instead of a checkpoint.

    The file may lack the parameters the generator names in `zero_started_parameters` (prefixes): they start at zero
    and leave the output as the file's weights computed it (the copy gates of `makeup.models.beautygan`).
    """
    from makeup.weights import WeightsError, load_weights_file

    try:
        trained = load_weights_file(path, at_working_size=False)
    except WeightsError as error:
        raise CheckpointError(f"cannot start from {path}: {error}") from error
    does_not_fit = f"{path} holds a {trained.model_name!r} generator that does not fit the one being trained"
    try:
        missing, unexpected = generator.load_state_dict(
            {key: value.float() for key, value in trained.state_dict().items()}, strict=False
        )
    except RuntimeError as error:  # a parameter of another shape
        raise CheckpointError(f"{does_not_fit} ({str(error).splitlines()[0]})") from error
    optional = getattr(generator, "zero_started_parameters", ())
    missing = [key for key in missing if not key.startswith(optional)]
    if missing or unexpected:
        raise CheckpointError(f"{does_not_fit} (it lacks {missing}; it has {unexpected} besides)")


def record_start(run_dir: Path, source: Path) -> None:
    """Note in `run_dir` that the run started from checkpoint `source` (`init_from`): its step, its run's config
    and, recursively, where that run started. The model card of an export lists every stage from this. A weights
    file as `source` contributes the training record in its metadata."""
    source = Path(source)
    if source.suffix == ".safetensors":
        from makeup.weights import read_weights_metadata

        training = json.loads(read_weights_metadata(source).get("training", "{}"))
        record = {"checkpoint": str(source), "step": int(training.get("steps", 0)),
                  "config": training.get("config", {}), "started_from": training.get("started_from")}
        _replace_json(run_dir / STARTED_FROM_FILE, record, indent=2)
        return
    config_file = source / "config.json"
    record = {
        "checkpoint": str(source),
        "step": int(read_state(source)["step"]),
        "config": json.loads(config_file.read_text()) if config_file.is_file() else {},
        "started_from": read_start(source.parent.parent),
    }
    _replace_json(run_dir / STARTED_FROM_FILE, record, indent=2)


def read_start(run_dir: Path) -> dict[str, Any] | None:
    """What `record_start` noted for `run_dir`, or None for a run that started from scratch."""
    path = Path(run_dir) / STARTED_FROM_FILE
    return json.loads(path.read_text()) if path.is_file() else None
