"""Faults: damaged weights never stop the app from offering the intact models, and nothing unpickles."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from makeup.app import build_app
from makeup.app.catalog import model_entries
from makeup.models import create_model
from makeup.transfer import MakeupPipeline
from makeup.weights import (ChecksumMismatchError, CorruptWeightsError, UntrainedModelWarning, WeightsError,
                            WrongArchitectureError, load_weights_file, read_manifest, save_weights)

INTACT, DAMAGED = "slim-s", "slim-m"
ROOT = Path(__file__).resolve().parents[1]


def _weights(folder: Path) -> Path:
    torch.manual_seed(0)
    for name in (INTACT, DAMAGED):
        save_weights(create_model(name), name, folder)
    return folder


def _truncate(folder: Path) -> None:
    path = folder / f"{DAMAGED}.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(folder: Path) -> None:
    path = folder / f"{DAMAGED}.safetensors"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))


def _other_architecture(folder: Path) -> None:
    # slim-s's file under slim-m's name, with a manifest entry that matches its checksum
    import json

    from makeup.weights import file_sha256

    shutil.copy(folder / f"{INTACT}.safetensors", folder / f"{DAMAGED}.safetensors")
    manifest = read_manifest(folder)
    manifest["models"][DAMAGED]["sha256"] = file_sha256(folder / f"{DAMAGED}.safetensors")
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _unlisted(folder: Path) -> None:
    import json

    manifest = read_manifest(folder)
    del manifest["models"][DAMAGED]
    (folder / "manifest.json").write_text(json.dumps(manifest))


FAULTS = {
    "truncated": (_truncate, CorruptWeightsError),
    "flipped byte": (_flip_a_byte, ChecksumMismatchError),
    "another architecture": (_other_architecture, WrongArchitectureError),
    "missing manifest entry": (_unlisted, None),  # not listed: simply untrained, never loaded as trained
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_weights_file_is_refused_and_the_intact_models_stay_offered(fault, tmp_path):
    damage, error = FAULTS[fault]
    folder = _weights(tmp_path)
    damage(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        if error is not None:
            with pytest.raises(error):
                MakeupPipeline(models=[INTACT, DAMAGED], device="cpu", weights_dir=folder)
        pipeline = MakeupPipeline(models=[INTACT, DAMAGED] if error else [INTACT], device="cpu",
                                  weights_dir=folder, allow_untrained=True, skip_broken=True)
    assert INTACT in pipeline.model_names and pipeline.is_trained(INTACT)
    offered = {entry.name for entry in model_entries(folder, exclude=pipeline.broken)}
    assert INTACT in offered and DAMAGED not in offered
    if error is not None:
        assert isinstance(pipeline.broken[DAMAGED], error)
        app = build_app(pipeline, weights_dir=folder, examples_dir=tmp_path / "examples")
        notices = [block.value for block in app.blocks.values() if getattr(block, "elem_id", None) == "broken-weights"]
        assert notices and DAMAGED in notices[0] and error.__name__ in notices[0]
        assert str(folder) not in notices[0]  # no server paths on a public page
    else:
        assert not pipeline.broken


@pytest.mark.slow
def test_the_launcher_starts_with_a_damaged_weights_file_and_says_so(tmp_path):
    folder = _weights(tmp_path / "weights")
    _flip_a_byte(folder)
    from servers import demo_server  # tests/ is on sys.path under pytest

    with demo_server(tmp_path, MAKEUP_WEIGHTS_DIR=str(folder)) as server:
        assert server.process.poll() is None, server.process.stdout.read()
        assert server.config is not None, "the app did not come up"
        config = server.config
        assert "Not offered, their weights could not be loaded" in config and "ChecksumMismatchError" in config
        assert f"{INTACT}: " in config  # the intact model is offered
    output = server.output
    assert "left out slim-m" in output and "sha256" in output  # the details went to the log


def test_a_pickle_disguised_as_weights_is_refused_without_running(tmp_path):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    disguised = tmp_path / "evil.safetensors"
    disguised.write_bytes(pickle.dumps({"weights": Payload()}))
    with pytest.raises(WeightsError):
        load_weights_file(disguised)
    torch.save({"weights": Payload()}, tmp_path / "evil.pt")  # torch's own pickle format, as a checkpoint
    shutil.copy(tmp_path / "evil.pt", tmp_path / "model.safetensors")
    with pytest.raises(WeightsError):
        load_weights_file(tmp_path / "model.safetensors")
    assert not marker.exists()


def test_no_code_unpickles():
    """Weights, checkpoints and caches are safetensors, JSON and npz without pickles; any torch.load must be
    weights_only."""
    import re

    for path in (ROOT / "makeup").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bpickle\.loads?\(", text), path
        assert "allow_pickle=True" not in text, path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)
