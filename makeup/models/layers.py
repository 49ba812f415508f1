"""Building blocks shared by the generators and discriminators.

Generator convolutions have no bias where an affine InstanceNorm follows them: its shift makes a bias redundant
(as in BeautyGAN).
"""

from __future__ import annotations

import torch
from torch import nn


class InstanceNorm(nn.GroupNorm):
    """Affine instance normalisation, computed as GroupNorm with one channel per group.

    The same numbers as `nn.InstanceNorm2d(channels, affine=True)` (per image and channel, no running
    statistics, so train and eval agree) and the same parameter names, but torch's GroupNorm kernels run it
    5-8x faster on CPU, forward and backward.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__(channels, channels, eps=eps, affine=True)


def instance_norm(channels: int) -> InstanceNorm:
    """The normalisation every generator layer uses."""
    return InstanceNorm(channels)


class ChannelAffine(nn.Module):
    """A learned per-channel scale and shift, with `InstanceNorm`'s parameter names and count but no statistics.

    Instance normalisation straight after a generator's first (linear) conv subtracts each channel's mean over
    the image, so that layer cannot see an image's absolute colours at all: a lipstick and the same lipstick on a
    warmer photo look identical to it. In its place this keeps them (see `BeautyGAN(stem_norm=...)`).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


NORMS = {"instance": instance_norm, "affine": ChannelAffine}


class ConvNormReLU(nn.Sequential):
    """Conv (bias-free) -> InstanceNorm (or `norm="affine"`: `ChannelAffine`) -> ReLU; `relu=False` leaves the
    activation out."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, relu: bool = True, norm: str = "instance") -> None:
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        padding = kernel_size // 2 if padding is None else padding
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            NORMS[norm](out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ConvTransposeNormReLU(nn.Sequential):
    """ConvTranspose 4x4 stride 2 (bias-free) -> InstanceNorm -> ReLU: doubles height and width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
            instance_norm(out_channels),
            nn.ReLU(inplace=True),
        )


class DepthwiseSeparableConv(nn.Sequential):
    """Depthwise kxk -> InstanceNorm -> pointwise 1x1, the kernel decomposition of a kxk conv (Yang et al. 2020).

    For C -> C channels at 3x3 it has 9C + C^2 weights instead of 9C^2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2, groups=in_channels,
                      bias=False),
            instance_norm(in_channels),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class ResidualBlock(nn.Module):
    """x + (Conv3x3 -> IN -> ReLU -> Conv3x3 -> IN)(x), the BeautyGAN bottleneck block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormReLU(channels, channels, 3),
            ConvNormReLU(channels, channels, 3, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DepthwiseSeparableResidualBlock(nn.Module):
    """The residual block with each 3x3 conv decomposed: (DWSep -> IN -> ReLU -> DWSep -> IN) + skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            DepthwiseSeparableConv(channels, channels),
            instance_norm(channels),
            nn.ReLU(inplace=True),
            DepthwiseSeparableConv(channels, channels),
            instance_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


RESIDUAL_INIT_SCALE = 0.1


class OutputHead(nn.Sequential):
    """`depth` x [Conv3x3 -> IN -> ReLU] at the input width, then Conv7x7 -> 3 channels -> tanh.

    `residual=True` makes the tanh output a correction added to the image the head edits (clamped to [-1, 1]).
    Makeup changes few pixels, so learning the change is far quicker than learning to redraw the whole face. Same
    parameters. The last conv starts at a tenth of its usual scale, so an untrained head changes its image only a
    little; not at zero, which starves every layer below it of gradient (training then stalls at the identity).
    """

    def __init__(self, channels: int, depth: int = 2, residual: bool = False) -> None:
        layers: list[nn.Module] = [ConvNormReLU(channels, channels, 3) for _ in range(depth)]
        layers += [nn.Conv2d(channels, 3, 7, padding=3, bias=False), nn.Tanh()]
        super().__init__(*layers)
        self.residual = residual
        if residual:
            with torch.no_grad():
                self[-2].weight.mul_(RESIDUAL_INIT_SCALE)

    def forward(self, features: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        output = super().forward(features)
        if not self.residual:
            return output
        if image is None:
            raise ValueError("a residual output head needs the image it corrects")
        return (image + output).clamp(-1.0, 1.0)
