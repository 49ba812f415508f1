"""Paste a model's output crop back into the full-resolution photo, touching only the face's bounding region."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from makeup.face.align import AlignedFace

# The face ellipse in crop fractions (centre x, centre y, half width, half height) and the feather's Gaussian
# sigma: fitted to the canonical template's framing so brows, cheeks, lips and chin are inside and hair,
# ears and background are out (a generator's changes there are artefacts, not makeup).
FACE_ELLIPSE = (0.5, 0.5, 0.33, 0.40)
FEATHER_SIGMA = 0.04

# Mask values below this change no 8-bit pixel, so they need not be warped or blended.
_NEGLIGIBLE = 0.5 / 255


@lru_cache(maxsize=8)
def _face_mask(size: int) -> np.ndarray:
    centre_x, centre_y, half_width, half_height = FACE_ELLIPSE
    mask = np.zeros((size, size), dtype=np.float32)
    shift = 4  # cv2.ellipse takes fixed-point coordinates: 4 fractional bits place it to 1/16 pixel
    one = size * (1 << shift)
    cv2.ellipse(
        mask,
        (round(centre_x * one), round(centre_y * one)),
        (round(half_width * one), round(half_height * one)),
        0, 0, 360, 1.0, thickness=-1, lineType=cv2.LINE_AA, shift=shift,
    )
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=FEATHER_SIGMA * size, borderType=cv2.BORDER_CONSTANT)
    mask.setflags(write=False)
    return mask


def face_mask(size: int = 256) -> np.ndarray:
    """The feathered face mask (size x size float32 in [0, 1], read-only) used by `paste_back`."""
    return _face_mask(int(size))


def pasted_region(aligned: AlignedFace, image_shape: tuple[int, ...], mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the original pixels a paste can change: the mask's support mapped back, clipped."""
    rows, cols = np.nonzero(mask > _NEGLIGIBLE)
    if rows.size == 0:
        return 0, 0, 0, 0
    left, top, right, bottom = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]], dtype=np.float64)
    inverse = aligned.inverse_matrix
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = image_shape[:2]
    x0, y0 = (max(0, int(np.floor(v)) - 1) for v in mapped.min(axis=0))
    x1 = min(width, int(np.ceil(mapped[:, 0].max())) + 1)
    y1 = min(height, int(np.ceil(mapped[:, 1].max())) + 1)
    return x0, y0, max(x0, x1), max(y0, y1)


def paste_back(
    image: np.ndarray,
    aligned: AlignedFace,
    output: np.ndarray,
    mask: np.ndarray | None = None,
    preserve_detail: bool = True,
    inplace: bool = False,
) -> np.ndarray:
    """Blend `output` (a crop the size of `aligned.crop`) into `image` where `aligned` was cut from.

    preserve_detail: paste the change the model made (output - aligned crop), upsampled, on top of the original
    pixels, so a face larger than the crop keeps its full-resolution detail and an unchanged crop changes
    nothing; False pastes the output's pixels themselves (softer on large faces).
    mask: size x size weights in [0, 1] (default: the feathered face ellipse); partial makeup passes region masks.
    inplace: write into `image` instead of a copy (saves a full-size copy of a huge photo).
    Only the face's bounding region is read, warped and written, whatever the photo's size.
    """
    size = aligned.size
    if output.shape != aligned.crop.shape:
        raise ValueError(f"output crop {output.shape} does not match the aligned crop {aligned.crop.shape}")
    mask = face_mask(size) if mask is None else np.asarray(mask, dtype=np.float32)
    if mask.shape != (size, size):
        raise ValueError(f"mask must be {size}x{size}, got {mask.shape}")
    result = image if inplace else image.copy()
    x0, y0, x1, y1 = pasted_region(aligned, image.shape, mask)
    if x1 <= x0 or y1 <= y0:
        return result
    to_region = aligned.inverse_matrix
    to_region[:, 2] -= (x0, y0)
    region_size = (x1 - x0, y1 - y0)
    region = result[y0:y1, x0:x1]

    def warp(crop_values: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(
            crop_values, to_region, region_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )

    if preserve_detail:
        change = (output.astype(np.float32) - aligned.crop.astype(np.float32)) * mask[..., None]
        # one saturating, rounding pass in OpenCV: about 9x faster than numpy's float round trip on big faces
        cv2.add(region, warp(change), dst=region, dtype=cv2.CV_8U)
    else:
        weight = warp(mask)[..., None]
        blended = region.astype(np.float32)
        blended += (warp(output.astype(np.float32)) - blended) * weight
        np.clip(blended, 0, 255, out=blended)
        region[...] = np.rint(blended).astype(np.uint8)
    return result
