"""Similarity alignment of a face to the canonical template, and the warp that cuts the aligned crop."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from makeup.face.template import CANONICAL_TEMPLATE


@dataclass(frozen=True)
class AlignedFace:
    """A square crop of a face framed by the template, and the 2x3 matrix mapping original pixels to it."""

    crop: np.ndarray
    matrix: np.ndarray

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])

    @property
    def inverse_matrix(self) -> np.ndarray:
        """The 2x3 matrix mapping crop pixels back to the original image."""
        return cv2.invertAffineTransform(self.matrix)


def similarity_matrix(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + uniform scale + translation that best maps `points` onto `targets` (least squares).

    Closed form (Umeyama 1991) over all five points: deterministic, unlike the random sampling of
    cv2.estimateAffinePartial2D's robust methods, and five landmarks from one detector have no outliers to reject.
    """
    src = np.asarray(points, dtype=np.float64)
    dst = np.asarray(targets, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_centred, dst_centred = src - src_mean, dst - dst_mean
    covariance = dst_centred.T @ src_centred / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ reflection @ vt
    scale = np.trace(np.diag(singular) @ reflection) / src_centred.var(axis=0).sum()
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def matrix_scale(matrix: np.ndarray) -> float:
    """The uniform scale factor of a similarity matrix."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp `image` by `matrix` (original -> crop) into a size x size crop.

    A face much larger than the crop is first shrunk with area averaging, because bilinear warping alone would
    skip pixels and alias; the shrink also reads only the region the crop needs, whatever the photo's size.
    """
    scale = matrix_scale(matrix)
    source, to_source = image, np.eye(3)
    if scale < 0.5:
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
        inverse = cv2.invertAffineTransform(matrix)
        mapped = corners @ inverse[:, :2].T + inverse[:, 2]
        margin = 2.0 / scale
        height, width = image.shape[:2]
        x0, y0 = (max(0, int(np.floor(v - margin))) for v in mapped.min(axis=0))
        x1 = min(width, int(np.ceil(mapped[:, 0].max() + margin)))
        y1 = min(height, int(np.ceil(mapped[:, 1].max() + margin)))
        if x1 > x0 and y1 > y0:
            region = image[y0:y1, x0:x1]
            # shrink to twice the crop's scale: the remaining 2x bilinear step still sees every pixel
            factor = 2.0 * scale
            new_w, new_h = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
            source = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
            fx, fy = new_w / (x1 - x0), new_h / (y1 - y0)
            to_source = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]])
    full = np.vstack([matrix, [0, 0, 1]]) @ to_source
    # Reflect at the photo's border so a face near the edge gives the model plausible pixels, not black.
    return cv2.warpAffine(
        source, full[:2], (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int = 256, template: np.ndarray = CANONICAL_TEMPLATE
) -> AlignedFace:
    """Crop the face with these 5 landmarks (see `Face`) from an HxWx3 image, framed like the MT training crops.

    `template` holds the landmarks' target positions as fractions of the crop side, so any `size` works.
    """
    matrix = similarity_matrix(landmarks, np.asarray(template, dtype=np.float64) * size)
    return AlignedFace(crop=warp_to_crop(image, matrix, size), matrix=matrix)
