"""Face detection with MTCNN (facenet-pytorch) on a downscaled copy, mapped back to the original's pixels."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from makeup.face.errors import FaceTooSmallError, LowConfidenceError, NoFaceError


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of the image it was found in.

    box: (x0, y0, x1, y1) float32. landmarks: 5x2 float32 (x, y) of the left eye, right eye, nose tip, left and
    right mouth corners ("left" is the image's left). score: MTCNN's probability that this is a face.
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """The shorter side of the face box, in pixels: what the "face too small" check compares."""
        return min(self.width, self.height)

    @property
    def area(self) -> float:
        return self.width * self.height


# A face box closer to the frame than this fraction of the long side counts as touching it; such images are
# detected again with a black border of BORDER_PAD times the long side.
BORDER_MARGIN = 0.02
BORDER_PAD = 0.25


def _near_border(box: np.ndarray, shape: tuple[int, ...], margin: float) -> bool:
    height, width = shape[:2]
    gap = margin * max(height, width)
    return bool(box[0] < gap or box[1] < gap or box[2] > width - gap or box[3] > height - gap)


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def downscale_for_detection(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float]:
    """A copy whose long side is at most `max_side` (never enlarged), and the x and y factors applied."""
    height, width = image.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor >= 1.0:
        return image, 1.0, 1.0
    new_width, new_height = max(1, round(width * factor)), max(1, round(height * factor))
    # INTER_AREA averages the pixels it drops, so small copies of huge photos do not alias.
    small = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_AREA)
    return small, new_width / width, new_height / height


class FaceDetector:
    """MTCNN loaded once: `detect(image)` finds every face, `largest_face(image)` the largest one, faster.

    max_side: MTCNN sees a copy with this long side at most (a 4000-px photo takes seconds at full size, and the
    landmarks come from a 48x48 resampling of each face anyway, so little accuracy is lost).
    smallest_face: the smallest face searched for, in pixels of that copy. It sets the image pyramid's largest
    scale, which dominates the cost: 40 px of 1024 (about 4% of the photo's long side) runs about three times
    faster than MTCNN's default of 20 px.
    quick_side, large_face: `largest_face` first looks only for faces at least `large_face` pixels across in a
    copy whose long side is `quick_side` (48 of 320 px: 15% of the photo's long side, any portrait), several times
    cheaper; only when it finds none does it search down to `smallest_face`. The largest face is among the large
    ones whenever there are any. On the development faces, each scaled into a 1 MP photo, the quick pass finds
    every face, its landmarks 3% of the eye distance from those of MTCNN on the full-size photo on average
    (`makeup bench --detection`); the crops are then re-fitted by FaceMesh wherever makeup is placed.
    """

    def __init__(
        self,
        device: torch.device | str | None = None,
        max_side: int = 1024,
        smallest_face: int = 40,
        quick_side: int = 320,
        large_face: int = 48,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
    ) -> None:
        from facenet_pytorch import MTCNN

        self.device = torch.device(device) if device is not None else default_device()
        self.max_side = max_side
        self.smallest_face = smallest_face
        self.quick_side = quick_side
        self.large_face = large_face
        self._mtcnn = MTCNN(
            keep_all=True, min_face_size=smallest_face, thresholds=list(thresholds), device=self.device
        )

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in an HxWx3 uint8 RGB image, largest box first; an empty list when there is none."""
        small, scale_x, scale_y = downscale_for_detection(_checked(image), self.max_side)
        faces = self._search(small, self.smallest_face, pad_when_none=True)
        return _rescaled(faces, scale_x, scale_y)

    def largest_face(self, image: np.ndarray) -> Face | None:
        """The face with the largest box, or None; cheaper than `detect` when the face is not tiny."""
        _checked(image)
        quick, quick_x, quick_y = downscale_for_detection(image, min(self.quick_side, self.max_side))
        faces = self._search(quick, self.large_face, pad_when_none=False)
        if faces:
            return _rescaled(faces, quick_x, quick_y)[0]
        small, scale_x, scale_y = downscale_for_detection(image, self.max_side)
        faces = self._search(small, self.smallest_face, pad_when_none=True)
        return _rescaled(faces, scale_x, scale_y)[0] if faces else None

    def find_face(
        self,
        image: np.ndarray,
        role: str | None = None,
        min_size: int = 64,
        min_score: float = 0.9,
    ) -> Face:
        """The largest face, checked: raises NoFaceError, FaceTooSmallError or LowConfidenceError."""
        face = self.largest_face(image)
        return select_face([face] if face else [], role=role, min_size=min_size, min_score=min_score)

    def _search(self, image: np.ndarray, min_face: int, pad_when_none: bool) -> list[Face]:
        faces = self._run_mtcnn(image, min_face, pad=0)
        # MTCNN misplaces boxes and landmarks of faces that touch the frame (tight crops like the MT dataset's:
        # eye error 14% of the eye distance, 5% with a border), and may miss such faces altogether.
        if (faces and _near_border(faces[0].box, image.shape, BORDER_MARGIN)) or (not faces and pad_when_none):
            faces = self._run_mtcnn(image, min_face, pad=round(BORDER_PAD * max(image.shape[:2]))) or faces
        return faces

    def _run_mtcnn(self, image: np.ndarray, min_face: int, pad: int) -> list[Face]:
        """Faces of at least `min_face` pixels in `image` surrounded by `pad` black pixels, in `image`'s
        coordinates, largest first."""
        from makeup.face.mtcnn import detect

        if pad:
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        boxes, landmarks = detect(np.ascontiguousarray(image), min_face, self._mtcnn, self.device)
        faces = [
            Face(box=box[:4] - pad, landmarks=points - pad, score=float(box[4])) for box, points in zip(boxes, landmarks)
        ]
        return sorted(faces, key=lambda face: face.area, reverse=True)


def _checked(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"face detection expects an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    return image


def _rescaled(faces: list[Face], scale_x: float, scale_y: float) -> list[Face]:
    """Faces found in a copy scaled by (scale_x, scale_y), in the original's pixels."""
    scale = np.array([scale_x, scale_y], dtype=np.float32)
    return [
        Face(box=(face.box.reshape(2, 2) / scale).reshape(4), landmarks=face.landmarks / scale, score=face.score)
        for face in faces
    ]


def select_face(faces: list[Face], role: str | None = None, min_size: int = 64, min_score: float = 0.9) -> Face:
    """The first (largest) of `faces` after the checks a transfer needs, each failing with its own typed error."""
    if not faces:
        raise NoFaceError(role)
    face = faces[0]
    check_face(face, role=role, min_size=min_size, min_score=min_score)
    return face


def check_face(face: Face, role: str | None = None, min_size: int = 64, min_score: float = 0.9) -> None:
    """Raises FaceTooSmallError or LowConfidenceError when `face` is not good enough to transfer makeup on."""
    if face.size < min_size:
        raise FaceTooSmallError(face.size, min_size, role)
    if face.score < min_score:
        raise LowConfidenceError(face.score, min_score, role)


_shared_detectors: dict[str, FaceDetector] = {}
_shared_lock = threading.Lock()


def shared_detector(device: torch.device | str | None = None) -> FaceDetector:
    """One FaceDetector per device for the whole process (loading MTCNN costs time)."""
    key = str(torch.device(device) if device is not None else default_device())
    with _shared_lock:
        if key not in _shared_detectors:
            _shared_detectors[key] = FaceDetector(device=key)
        return _shared_detectors[key]


def detect_faces(image: np.ndarray, detector: FaceDetector | None = None) -> list[Face]:
    """Every face in an HxWx3 uint8 RGB image, largest first, with the process's shared detector by default."""
    return (detector or shared_detector()).detect(image)
