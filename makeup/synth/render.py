"""Paint a `MakeupStyle` onto a face crop inside its region masks, in CIE Lab, keeping texture and lighting.

Each layer moves chroma (a, b) toward the product's colour and shifts lightness by the difference between the
product and the region's mean, so shading, pores and lip lines stay. Edges are feathered in proportion to the
face (the distance between the eyes), and the eyes and the inside of the mouth are never painted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from makeup.regions import FaceGeometry, face_geometry, masks_from_landmarks
from makeup.synth.style import Colour, MakeupStyle

_REQUIRED = ("face", "skin", "lips", "mouth", "nose", "eye_left", "eye_right", "brow_left", "brow_right")


def render(face: np.ndarray, masks_or_landmarks: dict[str, np.ndarray] | np.ndarray, style: MakeupStyle) -> np.ndarray:
    """`face` (HxWx3 uint8 RGB) wearing `style`, as a new HxWx3 uint8 RGB image.

    `masks_or_landmarks` is a dict of region masks (`makeup.regions.REGIONS`, e.g. from a prepared cache) or the
    (478, 2) FaceMesh landmarks of this crop. Deterministic: the same inputs give the same pixels.
    """
    image = np.asarray(face)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB face, got shape {image.shape} and dtype {image.dtype}")
    masks = _as_masks(masks_or_landmarks, image.shape[:2])
    out = image.copy()
    box = _work_box(masks)
    if box is None:
        return out  # no face in the masks: nothing to paint
    crop_masks = {name: mask[box] for name, mask in masks.items()}
    out[box] = _render_crop(image[box], crop_masks, style)
    return out


def _work_box(masks: dict[str, np.ndarray]) -> tuple[slice, slice] | None:
    """The face's bounding box with room for the feathering: all painting happens inside it."""
    ys, xs = np.nonzero(masks["face"] > 0.5)
    if len(xs) == 0:
        return None
    height, width = masks["face"].shape
    pad = max(4, int(0.06 * max(xs.max() - xs.min(), ys.max() - ys.min())))
    return (slice(max(ys.min() - pad, 0), min(ys.max() + pad + 1, height)),
            slice(max(xs.min() - pad, 0), min(xs.max() + pad + 1, width)))


def _render_crop(image: np.ndarray, masks: dict[str, np.ndarray], style: MakeupStyle) -> np.ndarray:
    lab = cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    original = lab.copy()
    geometry = face_geometry(masks)
    unit = max(geometry.eye_distance, 8.0)  # the face's scale in pixels: every feather is a fraction of it
    eyes = np.maximum(masks["eye_left"], masks["eye_right"])

    if style.foundation_opacity > 0 or style.foundation_smoothing > 0:
        _foundation(lab, masks, style, unit)
    if style.blush_opacity > 0:
        _blush(lab, masks, geometry, style, unit)
    if style.shadow_opacity > 0 or style.liner_opacity > 0:
        for side in ("left", "right"):
            _eye(lab, masks, side, style, unit)
    if style.lip_opacity > 0:
        _lips(lab, masks, style, unit)

    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    out = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    # Unpainted pixels and the eyes come back exactly (a Lab round trip alone can move a value by 1).
    keep = (eyes > 0.5) | (np.abs(lab - original).max(axis=2) < 1e-4)
    out[keep] = image[keep]
    return out


def _as_masks(masks_or_landmarks, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    if isinstance(masks_or_landmarks, dict):
        missing = [name for name in _REQUIRED if name not in masks_or_landmarks]
        if missing:
            raise KeyError(f"render needs the region masks {missing}; pass all of makeup.regions.REGIONS")
        for name in _REQUIRED:
            if masks_or_landmarks[name].shape != tuple(shape):
                raise ValueError(f"mask {name!r} is {masks_or_landmarks[name].shape}, the face is {tuple(shape)}")
        return masks_or_landmarks
    return masks_from_landmarks(np.asarray(masks_or_landmarks), shape)


def _lab(colour: Colour) -> np.ndarray:
    pixel = np.array([[colour]], dtype=np.float32) / 255.0
    return cv2.cvtColor(pixel, cv2.COLOR_RGB2Lab)[0, 0]


def _blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.3:
        return mask
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)


def _paint(lab: np.ndarray, alpha: np.ndarray, colour: np.ndarray, texture: float, region: np.ndarray,
           lightness_weight: float = 1.0) -> None:
    """Blend `colour` (Lab, one colour or per pixel) in with weight `alpha`.

    Lightness moves by (colour - mean lightness of `region`), plus `1 - texture` of the remaining local
    difference, so texture=1 keeps every shading detail and texture=0 paints flat. `lightness_weight` < 1 lets
    the wearer's own lightness show through (a pale pink on dark lips stays darker than in the tube).
    """
    inside = region > 0.5
    if not inside.any():
        return
    lightness = lab[..., 0]
    mean = float(lightness[inside].mean())
    target_l = colour[..., 0] + texture * (lightness - mean)
    lab[..., 0] += (lightness_weight * alpha) * (target_l - lightness)
    lab[..., 1:] += alpha[..., None] * (colour[..., 1:] - lab[..., 1:])


def _foundation(lab: np.ndarray, masks: dict[str, np.ndarray], style: MakeupStyle, unit: float) -> None:
    skin = masks["skin"]
    alpha = _blur(skin, 0.05 * unit) * skin
    if style.foundation_smoothing > 0:
        # An edge-preserving blur of lightness evens out pores and blemishes but keeps the face's shape.
        lightness = np.ascontiguousarray(lab[..., 0])
        smooth = cv2.bilateralFilter(lightness, d=0, sigmaColor=4.0, sigmaSpace=max(0.03 * unit, 1.0))
        lab[..., 0] += style.foundation_smoothing * alpha * (smooth - lightness)
    if style.foundation_opacity > 0:
        tone = _lab(style.foundation_colour)
        inside = skin > 0.5
        if inside.any():
            mean = lab[inside].mean(axis=0)
            # A uniform shift toward the foundation's tone, mostly its undertone (a, b): lighting and texture
            # ride along unchanged, and a dark skin is not painted pale.
            shift = style.foundation_opacity * (tone - mean) * np.array([0.3, 1.0, 1.0], dtype=np.float32)
            lab += alpha[..., None] * shift


def _blush(lab: np.ndarray, masks: dict[str, np.ndarray], geometry: FaceGeometry, style: MakeupStyle,
           unit: float) -> None:
    height, width = masks["skin"].shape
    colour = _lab(style.blush_colour)
    for side in ("left", "right"):
        (cx, cy), (ax, ay), angle = geometry.cheek_ellipse(side, lift=style.blush_lift, spread=style.blush_spread)
        ax, ay = 0.5 * ax * style.blush_size, 0.5 * ay * style.blush_size  # semi-axes
        reach = 1.8 * max(ax, ay)
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, width)
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        box = (slice(y0, y1), slice(x0, x1))
        grid_y, grid_x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
        u = ((grid_x - cx) * cos + (grid_y - cy) * sin) / ax
        v = (-(grid_x - cx) * sin + (grid_y - cy) * cos) / ay
        # A soft elliptical cloud: powder fades out gradually, it has no edge.
        cloud = np.exp(-0.8 * (u * u + v * v))
        skin = masks["skin"][box]
        allowed = _blur(skin * (1.0 - masks["nose"][box]), 0.03 * unit) * skin
        _paint(lab[box], style.blush_opacity * cloud * allowed, colour, texture=1.0, region=skin,
               lightness_weight=0.5)


def _eye(lab: np.ndarray, masks: dict[str, np.ndarray], side: str, style: MakeupStyle, unit: float) -> None:
    layers = eye_layers(masks, side, style, unit)
    if layers is None:
        return  # a closed or hidden eye: nothing to frame
    patch = lab[layers.box]
    skin = masks["skin"][layers.box]
    if style.shadow_opacity > 0:
        colour = (1.0 - layers.mix[..., None]) * _lab(style.shadow_colours[0]) + layers.mix[..., None] * _lab(
            style.shadow_colours[1])
        _paint(patch, style.shadow_opacity * layers.shadow, colour, texture=0.7, region=skin, lightness_weight=0.85)
    if style.liner_opacity > 0:
        _paint(patch, style.liner_opacity * layers.liner, _lab(style.liner_colour), texture=0.2, region=skin)


@dataclass(frozen=True)
class EyeLayers:
    """Where one eye's shadow and liner go, at full opacity, inside `box` of the crop: the shadow's weight, how
    far its second colour takes over (`mix`, 0 to 1) and the liner's weight (zeros where the style has none)."""

    box: tuple[slice, slice]
    shadow: np.ndarray
    mix: np.ndarray
    liner: np.ndarray


def eye_layers(masks: dict[str, np.ndarray], side: str, style: MakeupStyle, unit: float) -> EyeLayers | None:
    """The shadow and liner weights `style` paints around one eye (`side` "left" or "right"), or None for a
    closed or hidden eye. Opacities are left out: a weight of 1 paints the product's colour all the way."""
    eye = masks[f"eye_{side}"]
    ys, xs = np.nonzero(eye > 0.5)
    if len(xs) < 4:
        return None
    height, width = eye.shape
    outward = -1.0 if side == "left" else 1.0
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    eye_width, eye_height = float(x1 - x0 + 1), float(y1 - y0 + 1)
    centre_x, centre_y = float(xs.mean()), float(ys.mean())
    brow = masks[f"brow_{side}"]
    brow_ys = np.nonzero(brow > 0.5)[0]
    brow_gap = (centre_y - brow_ys.mean()) if len(brow_ys) else 0.6 * eye_width
    brow_gap = float(np.clip(brow_gap, 0.35 * eye_width, 1.2 * eye_width))
    brow_line = centre_y - brow_gap  # nothing is painted above the middle of the brow

    # Work inside a box around the eye only: a few times cheaper than the whole crop.
    pad = int(np.ceil(0.45 * unit))
    bx0, bx1 = max(int(x0) - pad, 0), min(int(x1) + pad + 1, width)
    by0, by1 = max(int(centre_y - brow_gap) - pad, 0), min(int(y1) + pad + 1, height)
    box = (slice(by0, by1), slice(bx0, bx1))
    eye_box = (eye[box] > 0.5).astype(np.uint8)
    distance = cv2.distanceTransform(1 - eye_box, cv2.DIST_L2, 3)
    grid_y, grid_x = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
    outerness = np.clip((grid_x - centre_x) * outward / (0.5 * eye_width), 0.0, 1.5)
    above = np.clip((centre_y + 0.15 * eye_height - grid_y) / (0.2 * eye_height), 0.0, 1.0)
    below = np.clip((grid_y - centre_y) / (0.25 * eye_height), 0.0, 1.0)
    eye_open = 1.0 - eye_box.astype(np.float32)
    face = masks["face"][box]
    brow_keep = 1.0 - _blur(brow[box], 0.03 * unit)
    shadow = mix = liner = np.zeros(eye_box.shape, np.float32)

    if style.shadow_opacity > 0:
        # The lid: up to `extent` of the way to the brow, reaching further at the outer corner.
        lid_height = max(brow_gap - 0.5 * eye_height, 0.15 * eye_width)  # from the lash line to the brow
        reach = lid_height * (0.3 + 0.8 * style.shadow_extent) * (1.0 + 0.3 * outerness)
        under_brow = np.clip((grid_y - brow_line) / (0.25 * brow_gap), 0.0, 1.0)
        lid = above * under_brow * np.clip(1.0 - distance / reach, 0.0, 1.0) ** 0.7
        lower = style.shadow_lower * below * np.clip(1.0 - distance / (0.12 * unit), 0.0, 1.0)
        # Shadow fades out beyond the inner corner and past the outer corner.
        past_inner = np.maximum(-(grid_x - centre_x) * outward - 0.55 * eye_width, 0)
        span = np.clip(1.0 - past_inner / (0.2 * eye_width), 0, 1)
        past_outer = np.maximum((grid_x - centre_x) * outward - 0.75 * eye_width, 0)
        span *= np.clip(1.0 - past_outer / (0.35 * eye_width), 0, 1)
        shadow = _blur(np.maximum(lid, lower) * span, 0.04 * unit) * brow_keep * face * eye_open
        mix = np.clip(style.shadow_gradient * (0.8 * distance / reach + 0.6 * outerness), 0.0, 1.0)

    if style.liner_opacity > 0:
        thickness = (0.012 + 0.035 * style.liner_thickness) * unit * (0.6 + 0.6 * outerness)
        line = np.clip(1.0 - distance / thickness, 0.0, 1.0) * above
        line = np.maximum(line, _wing(eye_box, outward, style, thickness, eye_width))
        # The line starts a little in from the inner corner, as drawn liner does.
        past_inner = np.maximum(-(grid_x - centre_x) * outward - 0.3 * eye_width, 0)
        line *= np.clip(1.0 - past_inner / (0.2 * eye_width), 0, 1)
        liner = _blur(line, 0.008 * unit) * eye_open * face
    return EyeLayers(box, shadow.astype(np.float32), mix.astype(np.float32), liner.astype(np.float32))


def _wing(eye_box: np.ndarray, outward: float, style: MakeupStyle, thickness: np.ndarray,
          eye_width: float) -> np.ndarray:
    """A tapered flick from the outer corner of the eye, up and out."""
    wing = np.zeros(eye_box.shape, np.float32)
    if style.liner_wing <= 0:
        return wing
    ys, xs = np.nonzero(eye_box)
    corner_index = np.argmax(xs * outward)
    corner = np.array([xs[corner_index], ys[corner_index]], dtype=np.float32)
    length = style.liner_wing * 0.45 * eye_width
    tip = corner + np.array([outward * length, -0.45 * length], dtype=np.float32)
    base = float(thickness.max()) * 1.6
    top = corner + np.array([-outward * 0.25 * eye_width, -base], dtype=np.float32)
    polygon = np.round(np.stack([corner, tip, top]) * 16).astype(np.int32)
    cv2.fillPoly(wing, [polygon.reshape(-1, 1, 2)], 1.0, cv2.LINE_AA, 4)
    return wing


def _lips(lab: np.ndarray, masks: dict[str, np.ndarray], style: MakeupStyle, unit: float) -> None:
    lips, mouth = masks["lips"], masks["mouth"]
    ys, xs = np.nonzero(lips > 0.5)
    if len(xs) == 0:
        return
    height, width = lips.shape
    pad = int(np.ceil(0.1 * unit)) + 2
    box = (slice(max(ys.min() - pad, 0), min(ys.max() + pad + 1, height)),
           slice(max(xs.min() - pad, 0), min(xs.max() + pad + 1, width)))
    patch = lab[box]
    lip_box, mouth_box = lips[box], mouth[box]
    # Feathered outline, then cut hard at the mouth opening: teeth and tongue are never painted.
    alpha = _blur(lip_box, 0.012 * unit) * (1.0 - mouth_box)
    # FaceMesh's inner lip line can miss a sliver of teeth: spare bright, grey pixels next to the mouth.
    near_mouth = cv2.dilate(mouth_box, np.ones((3, 3), np.uint8), iterations=max(1, round(0.03 * unit)))
    chroma = np.hypot(patch[..., 1], patch[..., 2])
    teeth = near_mouth * np.clip((patch[..., 0] - 55.0) / 10.0, 0, 1) * np.clip((18.0 - chroma) / 6.0, 0, 1)
    alpha *= 1.0 - teeth
    inside = lip_box > 0.5
    original = patch[..., 0].copy()
    mean, spread = float(original[inside].mean()), float(original[inside].std() + 1e-3)
    _paint(patch, style.lip_opacity * alpha, _lab(style.lip_colour), texture=0.85, region=lip_box,
           lightness_weight=0.7)
    if style.lip_gloss > 0:
        # Gloss brightens what the light already catches: the upper part of the lips' own lightness range.
        shine = np.clip((original - mean - 0.3 * spread) / (1.5 * spread), 0.0, 1.0)
        shine = _blur(shine * shine, 0.01 * unit) * alpha
        patch[..., 0] += style.lip_gloss * 22.0 * shine
        patch[..., 1:] *= (1.0 - 0.4 * style.lip_gloss * shine)[..., None]
