"""The canonical 5-point face template that aligned crops are framed by, and how it was derived.

The points are, in order: left eye, right eye, nose tip, left mouth corner, right mouth corner ("left" meaning the
image's left), as fractions of the crop's width and height, so one template serves every crop size.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Mean landmarks (as FaceDetector finds them) of the 44 MT-dataset crops (361x361) in ../shared/data/faces/mt-*,
# averaged with their mirror images. MT crops show forehead, chin and some hair (ArcFace's 112-px template crops
# much tighter); the mirror average centres the face horizontally, which the raw MT mean does not (x = 0.45).
CANONICAL_TEMPLATE = np.array(
    [
        [0.3445, 0.2999],
        [0.6555, 0.2999],
        [0.5000, 0.4954],
        [0.3741, 0.6330],
        [0.6259, 0.6330],
    ],
    dtype=np.float32,
)

# Landmark order after a horizontal flip: the left eye becomes the right eye and so on.
MIRROR_ORDER = (1, 0, 2, 4, 3)


def mirror_landmarks(points: np.ndarray) -> np.ndarray:
    """Normalised 5-point landmarks of the horizontally flipped crop."""
    mirrored = np.asarray(points, dtype=np.float32)[list(MIRROR_ORDER)].copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    return mirrored


def derive_template(normalised_landmarks: Iterable[np.ndarray]) -> np.ndarray:
    """The template from landmarks of already-framed crops, each 5x2 divided by its crop's (width, height).

    Averages the landmarks together with their mirror images, so the template is left-right symmetric.
    """
    points = [np.asarray(p, dtype=np.float32) for p in normalised_landmarks]
    if not points:
        raise ValueError("derive_template needs landmarks of at least one crop")
    stacked = np.stack(points + [mirror_landmarks(p) for p in points])
    return stacked.mean(axis=0)
