"""Makeup looks as parameters: the `MakeupStyle` dataclass, named presets and random looks from everyday to heavy."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

Colour = tuple[int, int, int]  # RGB, 0-255


@dataclass(frozen=True)
class MakeupStyle:
    """One makeup look. Opacities are 0 (none) to 1 (full pigment); other amounts are 0-1 unless noted.

    Colours are absolute RGB, so the same style on two faces gives them the same lipstick, shadow and blush:
    that is what makes a rendered (reference, ground truth) pair a faithful transfer example.
    """

    lip_colour: Colour = (190, 110, 110)
    lip_opacity: float = 0.0
    lip_gloss: float = 0.0
    shadow_colours: tuple[Colour, Colour] = ((160, 120, 100), (110, 75, 60))  # lid, outer/crease
    shadow_opacity: float = 0.0
    shadow_extent: float = 0.5  # how far up toward the brow (0.2 lash line only, 1 up to the brow)
    shadow_gradient: float = 0.5  # how much the second colour takes over toward the crease and outer corner
    shadow_lower: float = 0.0  # smudge along the lower lash line
    liner_colour: Colour = (25, 20, 20)
    liner_opacity: float = 0.0
    liner_thickness: float = 0.5
    liner_wing: float = 0.0  # flick past the outer corner
    blush_colour: Colour = (220, 110, 110)
    blush_opacity: float = 0.0
    blush_lift: float = 0.0  # -0.2 (apples of the cheeks) to 0.25 (up on the cheekbones)
    blush_spread: float = 0.0  # -0.1 (toward the nose) to 0.2 (toward the ears)
    blush_size: float = 1.0  # 0.7-1.4, relative to the face
    foundation_colour: Colour = (225, 180, 155)
    foundation_opacity: float = 0.0  # how far skin tone moves toward foundation_colour
    foundation_smoothing: float = 0.0  # how much fine skin texture is evened out

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "MakeupStyle":
        """A style from a dict such as `json.loads(style.to_json())` (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown MakeupStyle fields {sorted(unknown)}; known: {sorted(names)}")
        values = dict(data)
        for name in ("lip_colour", "liner_colour", "blush_colour", "foundation_colour"):
            if name in values:
                values[name] = tuple(int(v) for v in values[name])
        if "shadow_colours" in values:
            values["shadow_colours"] = tuple(tuple(int(v) for v in c) for c in values["shadow_colours"])
        return cls(**values)


PRESETS: dict[str, MakeupStyle] = {
    "natural": MakeupStyle(
        lip_colour=(196, 112, 108), lip_opacity=0.45, lip_gloss=0.3,
        shadow_colours=((196, 150, 125), (150, 105, 85)), shadow_opacity=0.3, shadow_extent=0.45,
        liner_colour=(60, 40, 35), liner_opacity=0.35, liner_thickness=0.3,
        blush_colour=(225, 130, 120), blush_opacity=0.18,
        foundation_colour=(226, 184, 160), foundation_opacity=0.15, foundation_smoothing=0.4,
    ),
    "classic-red": MakeupStyle(
        lip_colour=(170, 20, 35), lip_opacity=0.85, lip_gloss=0.15,
        shadow_colours=((200, 165, 140), (140, 100, 80)), shadow_opacity=0.3, shadow_extent=0.5,
        liner_colour=(15, 12, 12), liner_opacity=0.9, liner_thickness=0.6, liner_wing=0.7,
        blush_colour=(210, 120, 115), blush_opacity=0.15, blush_lift=0.15,
        foundation_colour=(232, 192, 170), foundation_opacity=0.3, foundation_smoothing=0.6,
    ),
    "smoky-eye": MakeupStyle(
        lip_colour=(175, 120, 115), lip_opacity=0.45,
        shadow_colours=((85, 75, 80), (30, 25, 30)), shadow_opacity=0.8, shadow_extent=0.8,
        shadow_gradient=0.8, shadow_lower=0.6,
        liner_colour=(10, 10, 12), liner_opacity=0.9, liner_thickness=0.8, liner_wing=0.3,
        blush_colour=(190, 120, 110), blush_opacity=0.12, blush_lift=0.2,
        foundation_colour=(225, 185, 165), foundation_opacity=0.25, foundation_smoothing=0.5,
    ),
    "pink-glam": MakeupStyle(
        lip_colour=(222, 90, 140), lip_opacity=0.75, lip_gloss=0.7,
        shadow_colours=((235, 150, 185), (180, 70, 130)), shadow_opacity=0.6, shadow_extent=0.7, shadow_gradient=0.6,
        liner_colour=(30, 20, 30), liner_opacity=0.7, liner_thickness=0.5, liner_wing=0.5,
        blush_colour=(240, 120, 150), blush_opacity=0.3, blush_lift=0.05,
        foundation_colour=(238, 198, 182), foundation_opacity=0.25, foundation_smoothing=0.6,
    ),
    "berry-bold": MakeupStyle(
        lip_colour=(115, 25, 60), lip_opacity=0.85, lip_gloss=0.2,
        shadow_colours=((150, 90, 110), (90, 40, 70)), shadow_opacity=0.55, shadow_extent=0.6, shadow_gradient=0.7,
        shadow_lower=0.25,
        liner_colour=(20, 10, 15), liner_opacity=0.8, liner_thickness=0.6, liner_wing=0.4,
        blush_colour=(200, 100, 115), blush_opacity=0.2, blush_lift=0.2, blush_spread=0.1,
        foundation_colour=(225, 185, 165), foundation_opacity=0.2, foundation_smoothing=0.5,
    ),
    "coral-summer": MakeupStyle(
        lip_colour=(240, 110, 85), lip_opacity=0.7, lip_gloss=0.6,
        shadow_colours=((220, 170, 110), (190, 120, 60)), shadow_opacity=0.45, shadow_extent=0.55,
        liner_colour=(70, 45, 30), liner_opacity=0.5, liner_thickness=0.4,
        blush_colour=(245, 140, 110), blush_opacity=0.3, blush_spread=0.05,
        foundation_colour=(220, 175, 140), foundation_opacity=0.2, foundation_smoothing=0.4,
    ),
}

# Colour families real products come in; random looks pick one and jitter it.
_LIP_COLOURS = [(196, 112, 108), (215, 90, 130), (235, 105, 85), (170, 20, 35), (125, 30, 60), (105, 40, 70),
                (150, 75, 65), (205, 55, 45), (225, 140, 150), (185, 95, 85)]
_SHADOW_PAIRS = [((196, 150, 125), (140, 95, 75)), ((210, 160, 100), (150, 100, 55)), ((160, 140, 130), (100, 85, 80)),
                 ((230, 200, 170), (170, 130, 100)), ((90, 80, 85), (30, 28, 32)), ((160, 100, 130), (100, 50, 85)),
                 ((230, 150, 170), (180, 80, 120)), ((215, 175, 90), (150, 110, 50)), ((110, 130, 180), (50, 65, 120)),
                 ((130, 150, 110), (70, 90, 60)), ((240, 160, 130), (190, 100, 80))]
_LINER_COLOURS = [(15, 12, 12), (45, 30, 25), (30, 30, 60)]
_BLUSH_COLOURS = [(225, 130, 120), (240, 120, 150), (245, 140, 110), (200, 100, 115), (210, 125, 100)]
_FOUNDATION_COLOURS = [(240, 205, 185), (228, 186, 160), (215, 170, 135), (190, 140, 105), (150, 105, 75),
                       (110, 75, 55)]
# Vivid shadows (blue, teal, green, purple, gold, magenta, copper) as worn in editorial and festival looks. They are
# only in the "bold-eyes" look, which the default mix never draws, so evaluation banks stay as they were; training
# can ask for it (`style_bank(look_weights=...)`) so the teacher sees real references' colourful lids.
_BOLD_SHADOW_PAIRS = [((60, 110, 215), (25, 45, 150)), ((40, 170, 185), (10, 95, 120)),
                      ((70, 175, 90), (25, 100, 50)), ((160, 80, 200), (90, 30, 140)),
                      ((235, 185, 60), (175, 110, 25)), ((235, 90, 170), (165, 35, 115)),
                      ((225, 125, 60), (160, 65, 30)), ((245, 120, 70), (200, 60, 50)),
                      ((120, 200, 230), (40, 120, 190))]
LOOK_WEIGHTS = {"everyday": 0.35, "evening": 0.3, "heavy": 0.2, "lips-only": 0.075, "eyes-only": 0.075}
LOOKS = (*LOOK_WEIGHTS, "bold-eyes")


def random_style(rng: np.random.Generator, look: str | None = None) -> MakeupStyle:
    """A plausible random look, from barely-there everyday makeup to heavy evening makeup.

    `look` picks the family ("everyday", "evening", "heavy", "lips-only", "eyes-only", or "bold-eyes": vivid,
    strongly pigmented eye shadow); by default one is drawn with `LOOK_WEIGHTS`, which leaves out "bold-eyes".
    Deterministic for a given generator state.
    """
    if look is None:
        names = list(LOOK_WEIGHTS)
        look = names[int(rng.choice(len(names), p=np.array(list(LOOK_WEIGHTS.values()))))]
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}: use one of {', '.join(LOOKS)}")
    strength = {"everyday": (0.25, 0.55), "evening": (0.5, 0.8), "heavy": (0.75, 1.0),
                "bold-eyes": (0.65, 1.0)}.get(look, (0.45, 0.9))

    def amount(low: float = 0.0, high: float = 1.0) -> float:
        return float(np.clip(rng.uniform(*strength) * rng.uniform(0.8, 1.2), low, high))

    def pick(colours: list) -> tuple:
        return colours[int(rng.integers(len(colours)))]

    def jitter(colour: Colour, spread: float = 14.0) -> Colour:
        return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in colour)

    lips = look != "eyes-only"
    eyes = look != "lips-only"
    bold = look == "bold-eyes"
    lid, crease = pick(_BOLD_SHADOW_PAIRS if bold else _SHADOW_PAIRS)
    return MakeupStyle(
        lip_colour=jitter(pick(_LIP_COLOURS)),
        lip_opacity=amount(0.15, 0.95) if lips else 0.0,
        lip_gloss=float(rng.uniform(0.0, 0.8)) if lips else 0.0,
        shadow_colours=(jitter(lid), jitter(crease)),
        shadow_opacity=amount(0.15, 0.95 if bold else 0.9) if eyes else 0.0,
        shadow_extent=float(rng.uniform(0.5 if bold else 0.3, 0.9)),
        shadow_gradient=float(rng.uniform(0.2, 0.9)),
        shadow_lower=float(rng.uniform(0.0, 0.7)) if look == "heavy" else float(rng.uniform(0.0, 0.2)),
        liner_colour=jitter(pick(_LINER_COLOURS), 6.0),
        liner_opacity=amount(0.0, 0.95) if eyes and rng.random() < 0.8 else 0.0,
        liner_thickness=float(rng.uniform(0.25, 0.9)),
        liner_wing=float(rng.uniform(0.0, 0.9)) if rng.random() < 0.5 else 0.0,
        blush_colour=jitter(pick(_BLUSH_COLOURS)),
        blush_opacity=float(rng.uniform(0.05, 0.3)) if look not in ("lips-only", "eyes-only") else 0.0,
        blush_lift=float(rng.uniform(-0.15, 0.25)),
        blush_spread=float(rng.uniform(-0.05, 0.15)),
        blush_size=float(rng.uniform(0.8, 1.25)),
        foundation_colour=jitter(pick(_FOUNDATION_COLOURS), 8.0),
        foundation_opacity=float(rng.uniform(0.0, 0.3)),
        foundation_smoothing=float(rng.uniform(0.0, 0.7)),
    )


def preset(name: str) -> MakeupStyle:
    """A named look (see `PRESETS`)."""
    if name not in PRESETS:
        raise KeyError(f"unknown makeup preset {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def scaled(style: MakeupStyle, factor: float) -> MakeupStyle:
    """The same look with every opacity multiplied by `factor` (0 removes it; clipped at full pigment)."""
    return replace(
        style,
        **{name: float(np.clip(getattr(style, name) * factor, 0.0, 1.0))
           for name in ("lip_opacity", "shadow_opacity", "liner_opacity", "blush_opacity", "foundation_opacity")},
    )
