"""Partial makeup: keep a model's change only inside chosen parts of the face (lips, eyes, skin).

A model changes the whole crop; a user who wants only its lipstick keeps the change inside the lips and the
source everywhere else. The parts come from FaceMesh landmarks of the source crop (mediapipe), feathered so no
seam shows:

- lips: the lips, a little beyond their outline (lip liner);
- eyes: the eye-shadow boxes, the eye rings (liner) and the eyes themselves, brows excluded;
- skin: the face's skin outside the eye zones and lips (foundation, blush, contour).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

PARTIAL_REGIONS = ("lips", "eyes", "skin")

_EYE_PARTS = ("eye_left", "eye_right", "eyeshadow_left", "eyeshadow_right", "eyering_left", "eyering_right")
# feathering and the lip liner's reach, as fractions of the crop's side (256 px: 3 px and 2 px)
_FEATHER = 0.012
_LIP_REACH = 0.008


def check_regions(regions: Iterable[str] | None) -> tuple[str, ...] | None:
    """The chosen parts in canonical order, or None for the whole face (None, or all three parts).

    An empty choice is refused: it would return the source unchanged, which no one asks for on purpose."""
    if regions is None:
        return None
    chosen = set(regions)
    unknown = chosen - set(PARTIAL_REGIONS)
    if unknown:
        raise ValueError(f"unknown face part(s) {sorted(unknown)}: choose among {', '.join(PARTIAL_REGIONS)}")
    if not chosen:
        raise ValueError("no face part was chosen: pick lips, eyes or skin (or all of them for the full look)")
    if chosen == set(PARTIAL_REGIONS):
        return None
    return tuple(name for name in PARTIAL_REGIONS if name in chosen)


def region_weight(masks: dict[str, np.ndarray], regions: Iterable[str]) -> np.ndarray:
    """An HxW float32 weight in [0, 1]: 1 on the chosen parts, fading to 0 within a few pixels beyond them.

    masks: the crop's `makeup.regions` masks (`makeup.regions.masks_from_landmarks`)."""
    shape = masks["face"].shape
    side = min(shape)
    eyes = np.maximum.reduce([masks[name] for name in _EYE_PARTS])
    parts = {
        "lips": cv2.dilate(masks["lips"], _disc(max(1, round(_LIP_REACH * side)))),
        "eyes": eyes,
        "skin": np.clip(masks["skin"] - eyes - masks["lips"], 0.0, 1.0),
    }
    weight = np.maximum.reduce([parts[name] for name in regions] + [np.zeros(shape, np.float32)])
    sigma = _FEATHER * side
    # full strength on the part itself, fading out beyond its border (a thin part keeps its whole colour)
    feathered = cv2.GaussianBlur(weight, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return np.clip(np.maximum(weight, feathered), 0.0, 1.0).astype(np.float32)


def keep_regions(source: np.ndarray, output: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`output` where `weight` is 1, `source` where it is 0, mixed in between (uint8)."""
    mixed = source.astype(np.float32) + (output.astype(np.float32) - source) * weight[..., None]
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
