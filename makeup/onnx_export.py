"""Generators as ONNX files, for runtimes other than PyTorch (onnxruntime, browsers, mobile).

The file holds the raw network: inputs `source` and `reference` (N x 3 x H x W floats in [-1, 1], the same size,
H and W any multiples of 4), outputs `transferred` and `demakeup`. Weights trained at a smaller working size run
best at it: the file's metadata says which (`working_size`), and shrinking the crops to it is the caller's job,
as `makeup.models.working_size.AtWorkingSize` does in PyTorch. Weights trained on references warped onto their
sources (`makeup.models.reference_input`) say so too (`reference`): the caller warps the reference crop onto the
source crop first, as `makeup.classical.correspondence.warp_to` does. Weights whose lips come from the example-based
transfer (`makeup.classical.example_lips`) say so (`lips`): the caller lays those lips over the output.

Needs the `onnx` extra (`pip install -e ".[onnx]"`).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from makeup.classical.example_lips import paints_lips_by_example
from makeup.models.reference_input import warps_reference

INPUTS = ("source", "reference")
OUTPUTS = ("transferred", "demakeup")
OPSET = 18
# generators downsample twice: every side is 4 x a free size
_SIDE_MULTIPLE = 4
_MAX_SIDE = 8192


class OnnxUnavailableError(RuntimeError):
    """onnx, onnxscript or onnxruntime is not installed."""


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise OnnxUnavailableError(
            f"ONNX export and inference need {module}: pip install -e \".[onnx]\"") from None


def require_onnx() -> None:
    """Raise `OnnxUnavailableError` unless export and inference can both run here."""
    for module in ("onnx", "onnxscript", "onnxruntime"):
        _require(module)


def export_onnx(generator: nn.Module, path: str | Path, metadata: dict[str, str] | None = None,
                example_size: int = 64) -> Path:
    """Write `generator` (a raw network, not a working-size wrapper) to `path` with dynamic batch, height and
    width; `metadata` goes into the file's metadata_props. Written to a temporary file and renamed: an
    interrupted export leaves no half-written file."""
    _require("onnxscript")
    onnx = _require("onnx")
    generator = getattr(generator, "generator", generator).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height = torch.export.Dim("height_quarter", min=1, max=_MAX_SIDE // _SIDE_MULTIPLE)
    width = torch.export.Dim("width_quarter", min=1, max=_MAX_SIDE // _SIDE_MULTIPLE)
    batch = torch.export.Dim("batch", min=1, max=1024)
    image_shape = {0: batch, 2: _SIDE_MULTIPLE * height, 3: _SIDE_MULTIPLE * width}
    # a batch of 2: the exporter would take an example batch of 1 as a fixed size
    example = torch.zeros(2, 3, example_size, example_size)
    descriptor, temporary = tempfile.mkstemp(suffix=".onnx.tmp", dir=path.parent)
    os.close(descriptor)
    try:
        # the exporter narrates its passes on stdout and warns that both inputs share their axis names
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(generator, (example, example.clone()), dynamo=True, opset_version=OPSET,
                                        input_names=list(INPUTS), output_names=list(OUTPUTS),
                                        dynamic_shapes=(image_shape, image_shape), verbose=False)
        model = program.model_proto
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        onnx.save(model, temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the export is an ordinary file
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


class OnnxGenerator:
    """An exported generator run by onnxruntime on the CPU: `generator(source, reference)` with numpy arrays or
    tensors, returning (transferred, demakeup) as numpy arrays."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, source: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
        feeds = {name: _as_array(image) for name, image in zip(INPUTS, (source, reference))}
        transferred, demakeup = self.session.run(list(OUTPUTS), feeds)
        return transferred, demakeup


def _as_array(image: Any) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    return np.ascontiguousarray(image, dtype=np.float32)


def export_shipped(name: str, path: str | Path, weights_dir: str | Path | None = None) -> Path:
    """Export the trained weights of registry model `name` (or a .safetensors file) to `path`."""
    from makeup.weights import load_model, load_weights_file

    model = load_weights_file(name) if Path(name).suffix == ".safetensors" else load_model(
        name, weights_dir=weights_dir)
    working_size = getattr(model, "working_size", None)
    metadata = {"model": model.model_name, "inputs": "source, reference: N x 3 x H x W in [-1, 1], H and W "
                "multiples of 4", "outputs": "transferred, demakeup"}
    if working_size:
        metadata["working_size"] = str(working_size)
    if warps_reference(model):
        metadata["reference"] = ("warped onto the source's geometry through both faces' FaceMesh landmarks "
                                 "(makeup.classical.correspondence.warp_to) before the call")
    if paints_lips_by_example(model):
        metadata["lips"] = ("the example-based transfer's, laid over the transferred output on the source's lips "
                            "(makeup.classical.example_lips.with_example_lips)")
    return export_onnx(model, path, metadata)
