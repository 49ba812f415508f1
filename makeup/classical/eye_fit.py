"""The eye makeup a face wears, as the renderer would paint it: analysis by synthesis.

Carrying a reference's eye makeup over by its lids' departure from its skin also carries whatever its sockets,
creases and lighting differ by from the source's. Here the reference's lids are instead explained by the
renderer's own eye layers (`makeup.synth.render.eye_layers`: a two-colour shadow of some extent and opacity,
and liner along the lash line) painted over bare lids, and the best fit is then painted on the source, on the
source's own geometry. Only a colour, an opacity and an extent cross over; the reference's anatomy stays behind.

The fit searches a small grid (extent, opacity, liner opacity); for each, the two shadow colours follow in
closed form (linear least squares in Lab). Bare lids are taken to be the skin around them plus the mean offset
of bare lids (`example._NATURAL_EYE_OFFSET`). Lightness weighs less than colour in the fit: bare faces differ
in lightness around the eyes far more than in colour. `gain`, the share of the lids' departure from bare lids
that the fit explains, says how sure it is: bare lids leave little to explain beyond what shading does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from makeup.regions import face_geometry
from makeup.synth.render import eye_layers
from makeup.synth.style import MakeupStyle

EXTENTS = (0.3, 0.5, 0.7, 0.9)
OPACITIES = (0.2, 0.35, 0.5, 0.65, 0.8, 0.95)
LINER_OPACITIES = (0.0, 0.5, 0.9)
GRADIENT = 0.5  # how far the second colour takes over toward the crease: fixed, the colours absorb the rest
_LINER_COLOUR = (25, 20, 20)  # MakeupStyle's default liner: liner is near black, its opacity is what varies


@dataclass(frozen=True)
class EyeFit:
    """The fitted eye makeup (only the shadow and liner fields of `style` are set) and the share of the lids'
    departure from bare lids it explains (`gain`, 0 to 1)."""

    style: MakeupStyle
    gain: float


def fit_eye_makeup(image: np.ndarray, masks: dict[str, np.ndarray], natural_offset: np.ndarray,
                   skin_tone: np.ndarray, lightness_weight: float = 0.15) -> EyeFit | None:
    """Fit the renderer's eye layers to `image` (HxWx3 uint8 RGB crop) inside its lids (`lid_mask`).

    `skin_tone` is the Lab of the bare skin around each pixel (HxWx3), `natural_offset` the Lab offset of bare lids
    from it. None where an eye is closed or hidden, or the lids are too small to fit.
    """
    lab = _lab(image)
    unit = max(face_geometry(masks).eye_distance, 8.0)
    lids = lid_mask(masks)
    bare_lids = skin_tone + natural_offset
    channel_weights = np.array([lightness_weight, 1.0, 1.0], np.float32)
    liner = _lab(np.array([[_LINER_COLOUR]], np.uint8))[0, 0]
    best: tuple[float, MakeupStyle] | None = None
    for extent in EXTENTS:
        # The liner's layer does not depend on the extent, nor the shadow's on the liner: one call per extent.
        shape = MakeupStyle(shadow_opacity=1.0, shadow_extent=extent, shadow_gradient=GRADIENT, liner_opacity=1.0)
        sides = [eye_layers(masks, side, shape, unit) for side in ("left", "right")]
        if any(layers is None for layers in sides):
            return None
        inside = [lids[layers.box] for layers in sides]
        shadow, mix, full_line = (np.concatenate([getattr(layers, name)[keep] for layers, keep in zip(sides, inside)])
                                  for name in ("shadow", "mix", "liner"))
        observed = np.concatenate([lab[layers.box][keep] for layers, keep in zip(sides, inside)])
        bare = np.concatenate([bare_lids[layers.box][keep] for layers, keep in zip(sides, inside)])
        if len(shadow) < 16:
            return None
        for liner_opacity in LINER_OPACITIES:
            line = full_line * liner_opacity
            # The liner goes on last: take it off (where it does not cover the lid) to see the shadow under it.
            under_liner = (observed - line[:, None] * liner) / np.maximum(1.0 - line, 0.2)[:, None]
            fit_here = line < 0.8
            for opacity in OPACITIES:
                colours = _shadow_colours(opacity * shadow, mix, under_liner, bare, fit_here)
                painted = bare + (opacity * shadow)[:, None] * (
                    (1.0 - mix)[:, None] * colours[0] + mix[:, None] * colours[1] - bare)
                painted += line[:, None] * (liner - painted)
                residual = float((((observed - painted) ** 2) * channel_weights).sum())
                if best is None or residual < best[0]:
                    style = MakeupStyle(shadow_colours=(_rgb(colours[0]), _rgb(colours[1])), shadow_opacity=opacity,
                                        shadow_extent=extent, shadow_gradient=GRADIENT, liner_colour=_LINER_COLOUR,
                                        liner_opacity=liner_opacity)
                    best = (residual, style)
    # Every candidate is scored on the same pixels, so the residual of painting nothing compares directly.
    nothing = float((((observed - bare) ** 2) * channel_weights).sum())
    assert best is not None
    return EyeFit(style=best[1], gain=float(np.clip(1.0 - best[0] / max(nothing, 1e-6), 0.0, 1.0)))


def lid_mask(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Both eye-shadow boxes without the eyes and brows, as a bool mask: where eye makeup shows on skin."""
    eyes = np.maximum(masks["eye_left"], masks["eye_right"]) > 0.5
    brows = np.maximum(masks["brow_left"], masks["brow_right"]) > 0.5
    return (np.maximum(masks["eyeshadow_left"], masks["eyeshadow_right"]) > 0.5) & ~eyes & ~brows


def _shadow_colours(alpha: np.ndarray, mix: np.ndarray, observed: np.ndarray, bare: np.ndarray,
                    use: np.ndarray) -> np.ndarray:
    """The two shadow colours (2x3 Lab, within the RGB gamut) that best turn `bare` into `observed` at weight
    `alpha`: observed - bare + alpha * bare = alpha * ((1 - mix) * first + mix * second), least squares."""
    design = np.stack([alpha * (1.0 - mix), alpha * mix], axis=1)[use]
    target = (observed - bare + alpha[:, None] * bare)[use]
    colours = np.linalg.solve(design.T @ design + 1e-3 * np.eye(2), design.T @ target)
    return _lab(np.array([[_rgb(c) for c in colours]], np.uint8))[0]


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def _rgb(lab_colour: np.ndarray) -> tuple[int, int, int]:
    rgb = cv2.cvtColor(np.asarray(lab_colour, np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2RGB)[0, 0] * 255.0
    r, g, b = (int(v) for v in np.clip(np.round(rgb), 0, 255))
    return r, g, b
