"""Our own slim students: BeautyGAN's two-branch layout with almost nothing left at full resolution.

The published student keeps BeautyGAN's full-resolution 7x7 stems and 64-channel heads (43% of its MACs) and its
transposed-conv upsampling. Here each branch enters at half resolution through one 4x4 stride-2 conv, the core
is depthwise separable at quarter resolution, upsampling is 1x1 conv + pixel shuffle, and each head works at
half resolution and pixel-shuffles a correction that is added to its own input image. Adding to the input keeps
every full-resolution detail of the face the network does not need to change, at no cost.
"""

from __future__ import annotations

import torch
from torch import nn

from makeup.models.base import Features, MakeupGenerator, prepare_pair
from makeup.models.layers import RESIDUAL_INIT_SCALE, ConvNormReLU, instance_norm
from makeup.models.registry import ModelCard, register_model


class SeparableConvNormReLU(nn.Sequential):
    """Depthwise 3x3 -> pointwise 1x1 -> IN -> ReLU (`relu=False` leaves the activation out).

    One normalisation per separable conv, not one after each half: on CPU a normalisation costs about as much
    as the depthwise conv, and none sits between the two halves in MobileNet-style inference either.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            instance_norm(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableResidualBlock(nn.Module):
    """x + (SepConv -> IN -> ReLU -> SepConv -> IN)(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(SeparableConvNormReLU(channels, channels),
                                  SeparableConvNormReLU(channels, channels, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SlimBranchEncoder(nn.Sequential):
    """Conv4x4 stride 2 -> norm -> ReLU straight from the image to half resolution, then one separable conv.

    `stem_norm="affine"` follows the first conv with a learned per-channel scale and shift instead of IN, as in
    the teacher: IN there would hide the absolute colour of a lipstick (`makeup.models.layers.ChannelAffine`)."""

    def __init__(self, width: int, stem_norm: str = "affine") -> None:
        super().__init__(ConvNormReLU(3, width, 4, stride=2, padding=1, norm=stem_norm),
                         SeparableConvNormReLU(width, width))


class PixelShuffleUp(nn.Sequential):
    """1x1 conv to 4x the output channels at the low resolution, pixel shuffle, IN, ReLU: 2x upsampling for a
    quarter of a transposed conv's cost."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, 4 * out_channels, 1, bias=False),
            nn.PixelShuffle(2),
            instance_norm(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualImageHead(nn.Module):
    """Half-resolution head: SepConv -> IN -> ReLU -> Conv3x3 to 12 channels -> pixel shuffle to a full-resolution
    RGB correction, added to the image it edits and clamped to [-1, 1]. The last conv starts at a tenth of its
    usual scale (`RESIDUAL_INIT_SCALE`)."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            SeparableConvNormReLU(in_channels, width),
            nn.Conv2d(width, 12, 3, padding=1),
            nn.PixelShuffle(2),
        )
        # as in the teacher's residual heads: an untrained head changes its image only a little
        with torch.no_grad():
            self.body[1].weight.mul_(RESIDUAL_INIT_SCALE)

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return (image + self.body(features)).clamp(-1.0, 1.0)


class SlimDecoder(nn.Module):
    """Joint half-resolution features -> separable stride-2 conv -> separable residual blocks at quarter
    resolution -> pixel-shuffle upsampling -> two heads, each also fed its own branch's half-resolution features."""

    def __init__(self, width: int, bottleneck: int, residual_blocks: int, head_width: int) -> None:
        super().__init__()
        self.down = SeparableConvNormReLU(2 * width, bottleneck, stride=2)
        self.blocks = nn.Sequential(*[SeparableResidualBlock(bottleneck) for _ in range(residual_blocks)])
        self.up = PixelShuffleUp(bottleneck, width)
        self.transferred_head = ResidualImageHead(2 * width, head_width)
        self.demakeup_head = ResidualImageHead(2 * width, head_width)

    def forward(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        source_half, reference_half = features["source_half"], features["reference_half"]
        x = self.up(self.blocks(self.down(torch.cat([source_half, reference_half], dim=1))))
        return (self.transferred_head(torch.cat([x, source_half], dim=1), features["source"]),
                self.demakeup_head(torch.cat([x, reference_half], dim=1), features["reference"]))


class SlimStudent(MakeupGenerator):
    """Two slim branch encoders of `width` channels at half resolution, a `bottleneck`-wide core of
    `residual_blocks` separable blocks at quarter resolution, and two half-resolution residual image heads.

    `encode` returns `source_half` and `reference_half` (the branch features) and the input images themselves
    as `source` and `reference`, which the heads add their corrections to.
    """

    def __init__(self, width: int = 32, bottleneck: int = 128, residual_blocks: int = 4,
                 head_width: int = 32, stem_norm: str = "affine") -> None:
        super().__init__()
        self.encoder = nn.ModuleDict({"source": SlimBranchEncoder(width, stem_norm),
                                      "reference": SlimBranchEncoder(width, stem_norm)})
        self.decoder = SlimDecoder(width, bottleneck, residual_blocks, head_width)

    def encode(self, source: torch.Tensor, reference: torch.Tensor) -> Features:
        source, reference = prepare_pair(source, reference)
        return {"source": source, "source_half": self.encoder["source"](source),
                "reference": reference, "reference_half": self.encoder["reference"](reference)}

    def decode(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(features)


SLIM_NOTES = ("per branch Conv4x4 s2 + one separable conv at half resolution; separable stride-2 conv and "
              "separable residual blocks (DW3x3 -> PW1x1 -> IN) at quarter resolution; 1x1 conv + pixel-shuffle "
              "upsampling; half-resolution heads fed the branch features, pixel-shuffling an RGB correction that "
              "is added to the input image")


def _register_slim(name: str, params: int, gmacs: float, purpose: str, width: int, bottleneck: int,
                   residual_blocks: int, head_width: int) -> None:
    """Register one size of the slim student; the sizes differ only in their widths and depth."""
    config = {"width": width, "bottleneck": bottleneck, "residual_blocks": residual_blocks,
              "head_width": head_width, "stem_norm": "affine"}
    register_model(ModelCard(name=name, kind="generator", method="slim student (ours)",
                             paper="this project; distilled from beautygan", params=params, gmacs=gmacs,
                             purpose=purpose, config=config, notes=SLIM_NOTES),
                   SlimStudent)


_register_slim("slim-s", 186_072, 0.970, "a small, fast student, for CPUs and the web demo",
               width=32, bottleneck=128, residual_blocks=4, head_width=32)
_register_slim("slim-m", 478_936, 2.326,
               "a wider, deeper slim student within the 2.7 GMAC / 0.5 M budget, for quality closer to the teacher",
               width=48, bottleneck=176, residual_blocks=6, head_width=48)
# narrower branches and heads and a 72-channel core: the quarter-resolution blocks hold most parameters
_register_slim("slim-xs", 71_352, 0.436,
               "the fewest parameters: under the 80 K of TinyBeauty, the smallest published makeup network",
               width=24, bottleneck=72, residual_blocks=4, head_width=24)
