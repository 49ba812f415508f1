"""The BeautyGAN discriminator: a spectral-norm PatchGAN scoring 70x70 patches (30x30 scores at 256x256)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from makeup.models.beautygan import BEAUTYGAN_PAPER
from makeup.models.registry import ModelCard, register_model


class PatchDiscriminator(nn.Module):
    """4x4 convs 3 -> w -> 2w -> 4w (stride 2), 4w -> 8w -> 1 (stride 1), LeakyReLU 0.01, spectral norm on each.

    Returns raw scores (Nx1x(H/8-2)x(W/8-2)) for an LSGAN (MSE) loss.
    """

    def __init__(self, width: int = 64, negative_slope: float = 0.01) -> None:
        super().__init__()
        channels = [3, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for index, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            stride = 2 if index < 3 else 1
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride, 1)), nn.LeakyReLU(negative_slope, True)]
        layers.append(spectral_norm(nn.Conv2d(channels[-1], 1, 4, 1, 1)))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image)


register_model(
    ModelCard(
        name="patchgan",
        kind="discriminator",
        method="spectral-norm PatchGAN discriminator",
        paper=BEAUTYGAN_PAPER,
        params=2_764_737,
        gmacs=3.147,
        purpose="adversarial loss in training, one per domain (with and without makeup); not used at inference",
        config={"width": 64, "negative_slope": 0.01},
        notes="LSGAN (MSE) loss; MACs for one 256x256 image",
    ),
    PatchDiscriminator,
)
