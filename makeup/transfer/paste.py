"""Stage 5 of the transfer: the made-up crops back into the full-resolution photo, inside each face's box."""

from __future__ import annotations

import numpy as np

from makeup.face import paste_back
from makeup.transfer.images import PreparedImage


def paste(source: PreparedImage, made_up: list[np.ndarray], in_place: bool) -> np.ndarray:
    """The source photo wearing `made_up` (one crop per face). in_place: the photo is the caller's to change
    (a prepared image that serves further transfers must not be)."""
    image = source.image if in_place else source.image.copy()
    for aligned, crop in zip(source.aligned, made_up):
        paste_back(image, aligned, crop, inplace=True)
    return image
