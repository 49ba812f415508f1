"""Typed errors for faces a person can meet; each names the image (source or reference) it is about."""

from __future__ import annotations

from makeup.errors import InputImageError, image_name as _the


class FaceError(InputImageError):
    """Base of every face problem; `role` says which image ("source", "reference" or None)."""


class NoFaceError(FaceError):
    """MTCNN found no face at all."""

    def __init__(self, role: str | None = None) -> None:
        super().__init__(
            f"No face was found in {_the(role)}. Use a photo in which one face is clearly visible, "
            "roughly facing the camera and not heavily covered.",
            role,
        )


class FaceTooSmallError(FaceError):
    """The face is smaller than the configured minimum, so the model would have too few pixels to work with."""

    def __init__(self, size: float, min_size: int, role: str | None = None) -> None:
        super().__init__(
            f"The face in {_the(role)} is only {size:.0f} pixels across; at least {min_size} are needed. "
            "Use a closer or larger photo of the face.",
            role,
        )
        self.size = size
        self.min_size = min_size


class LowConfidenceError(FaceError):
    """The detector is not sure enough that what it found is a face."""

    def __init__(self, score: float, min_score: float, role: str | None = None) -> None:
        super().__init__(
            f"The face detector is only {score:.1%} sure that {_the(role)} shows a face "
            f"(at least {min_score:.1%} is required). Use a sharper, well-lit, frontal photo.",
            role,
        )
        self.score = score
        self.min_score = min_score
