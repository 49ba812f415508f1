"""ONNX export: `makeup export --format onnx` writes a file onnxruntime runs with PyTorch's results, at any size
divisible by 4; `makeup bench --onnx` times it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from makeup.cli import main
from makeup.models import create_model
from makeup.onnx_export import OnnxGenerator
from makeup.weights import load_model, save_weights

SMALL_SLIM = {"width": 8, "bottleneck": 16, "residual_blocks": 1, "head_width": 8}


@pytest.fixture(scope="module")
def trained_student(tmp_path_factory):
    """A small slim-s with (random but saved) weights in its own weights folder, as if shipped."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    save_weights(create_model("slim-s", **SMALL_SLIM), "slim-s", folder)
    return folder


@pytest.fixture(scope="module")
def exported(trained_student, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "slim-s.onnx"
    assert main(["export", "--format", "onnx", "slim-s", "--weights-dir", str(trained_student),
                 "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("batch, height, width", [(1, 64, 64), (2, 96, 128), (1, 256, 256)])
def test_onnxruntime_matches_pytorch_at_any_size_divisible_by_4(trained_student, exported, batch, height, width):
    model = load_model("slim-s", weights_dir=trained_student).eval()
    torch.manual_seed(height)
    source = torch.rand(batch, 3, height, width) * 2 - 1
    reference = torch.rand(batch, 3, height, width) * 2 - 1
    with torch.inference_mode():
        expected = model(source, reference)
    got = OnnxGenerator(exported)(source, reference)
    for want, have in zip(expected, got):
        assert have.shape == tuple(want.shape)
        assert np.abs(have - want.numpy()).max() < 1e-3


def test_the_file_says_what_it_holds(exported):
    metadata = OnnxGenerator(exported).metadata
    assert metadata["model"] == "slim-s"
    assert "multiples of 4" in metadata["inputs"]
    assert "reference" not in metadata  # these weights take the aligned reference crop as it is


def test_a_model_trained_on_warped_references_says_so_in_its_file(tmp_path):
    torch.manual_seed(0)
    weights = save_weights(create_model("slim-s", **SMALL_SLIM), "slim-s", tmp_path, update_manifest=False,
                           training={"config": {"warp_reference": True}})
    path = tmp_path / "warped.onnx"
    assert main(["export", "--format", "onnx", str(weights), "-o", str(path)]) == 0
    assert "warp_to" in OnnxGenerator(path).metadata["reference"]


def test_a_model_without_trained_weights_is_refused_and_no_file_is_left(tmp_path, capsys):
    empty = tmp_path / "weights"
    empty.mkdir()
    out = tmp_path / "out"
    assert main(["export", "--format", "onnx", "slim-m", "--weights-dir", str(empty), "-o",
                 str(out / "slim-m.onnx")]) == 1
    assert "no trained weights for 'slim-m'" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_bench_adds_onnxruntime_latency_beside_pytorch(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--device", "cpu", "--models", "slim-s", "--size", "64", "--repeats", "2",
                 "--warmup", "1", "--onnx", "--json", str(path)]) == 0
    rows = {row["model"]: row for row in json.loads(path.read_text())["rows"]}
    assert rows["slim-s"]["onnx_ms"] > 0 and rows["beautygan"]["onnx_ms"] > 0
    assert rows["slim-s"]["onnx_speedup"] > 1  # the student is faster than the teacher in PyTorch
    assert "ONNX ms" in capsys.readouterr().out
