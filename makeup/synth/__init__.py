"""Synthetic makeup with exact ground truth: parametric looks (`MakeupStyle`) painted inside face-region masks."""

from makeup.synth.render import render
from makeup.synth.style import LOOK_WEIGHTS, LOOKS, PRESETS, MakeupStyle, preset, random_style, scaled

__all__ = ["LOOK_WEIGHTS", "LOOKS", "PRESETS", "MakeupStyle", "preset", "random_style", "render", "scaled"]
