"""Run a generator at the crop size it was trained at, on crops of any size.

A generator trained at 128 px sees faces four times smaller (in pixels) than the 256 px crops the pipeline cuts,
and convolutions do not rescale themselves. `AtWorkingSize` shrinks both inputs to the working size, runs the
generator there and adds its change (output minus the shrunk input), upsampled, to the full-size input: makeup is
a smooth colour change, and every pixel outside it keeps its full-resolution detail (the same idea as
`makeup.face.paste.paste_back`). Weights files say their working size; `makeup.weights` wraps them on loading.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# generators downsample twice, so each side must stay divisible by 4
_MULTIPLE = 4


def check_working_size(working_size: int) -> int:
    """`working_size` as an int, or ValueError if a generator cannot run at it."""
    if working_size < _MULTIPLE or working_size % _MULTIPLE:
        raise ValueError(f"working_size must be a positive multiple of {_MULTIPLE}, got {working_size}")
    return int(working_size)


def gmacs_at_working_size(gmacs: float, working_size: int | None, crop_size: int = 256) -> float:
    """The MACs of one call on a `crop_size` crop, given `gmacs` measured at that size: weights with a smaller
    working size run on fewer pixels (MACs scale with the pixel count); larger crops never enlarge."""
    if not working_size or working_size >= crop_size:
        return gmacs
    return gmacs * (working_size / crop_size) ** 2


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


class AtWorkingSize(nn.Module):
    """`generator` run at `working_size` px (the longer side) on larger inputs; the raw model is `.generator`.
    Inputs no larger than the working size go straight through (enlarging them would add nothing)."""

    def __init__(self, generator: nn.Module, working_size: int) -> None:
        super().__init__()
        self.generator = generator
        self.working_size = check_working_size(working_size)

    @property
    def model_name(self) -> str:
        """The registry name of the wrapped generator (set by `create_model`)."""
        return self.generator.model_name

    @property
    def model_config(self) -> dict:
        return self.generator.model_config

    def _small_size(self, height: int, width: int) -> tuple[int, int]:
        scale = self.working_size / max(height, width)
        return tuple(max(_MULTIPLE, round(side * scale / _MULTIPLE) * _MULTIPLE) for side in (height, width))

    def forward(self, source: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if max(source.shape[-2:]) <= self.working_size and max(reference.shape[-2:]) <= self.working_size:
            return self.generator(source, reference)
        small_source = _resize(source, self._small_size(*source.shape[-2:]))
        small_reference = _resize(reference, self._small_size(*reference.shape[-2:]))
        transferred, demakeup = self.generator(small_source, small_reference)
        return self._apply_change(source, small_source, transferred), \
            self._apply_change(reference, small_reference, demakeup)

    @staticmethod
    def _apply_change(image: torch.Tensor, small: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        if image.shape == small.shape:
            return output
        change = F.interpolate(output - small, size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False)
        return (image + change).clamp(-1.0, 1.0)
