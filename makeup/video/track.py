"""Following one face through a clip: detected now and then, tracked by its FaceMesh landmarks in between.

MTCNN finds the face (on the first frame, every `detect_every` frames, and whenever FaceMesh loses it). Between
detections the crop is placed by the previous frame's FaceMesh landmarks (FaceMesh itself runs in its video mode,
starting from its previous landmarks rather than from its own face detector): a set of stable anchor points (eye
corners, nose, mouth corners, chin, temples) mapped back into the frame is aligned to where those points lay in
the crop when the face was found, so the framing stays the detector's and does not jump at the next detection.
With smoothing on, the anchors and the 478 landmarks (which place the makeup) go through One Euro filters in the
frame's pixels: still faces do not shimmer, moving ones are followed within a frame or two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from makeup.face import AlignedFace, Face, FaceDetector, align_face
from makeup.video.smoothing import OneEuroFilter

if TYPE_CHECKING:
    from makeup.regions import LandmarkTracker

# FaceMesh points that move with the skull rather than with expressions: eye corners, nose bridge and tip,
# mouth corners, chin, temples and forehead.
ANCHORS = np.array([33, 133, 362, 263, 168, 6, 197, 1, 61, 291, 152, 234, 454, 10], dtype=np.int64)


@dataclass
class TrackedFace:
    """One frame's face: the aligned crop, its FaceMesh landmarks in crop pixels (smoothed), and how it was found."""

    face: Face
    aligned: AlignedFace
    landmarks: np.ndarray  # (478, 2) crop pixels
    detected: bool  # found by the detector on this frame (not tracked)


def _to_frame(points: np.ndarray, aligned: AlignedFace) -> np.ndarray:
    inverse = aligned.inverse_matrix
    return points @ inverse[:, :2].T + inverse[:, 2]


def _to_crop(points: np.ndarray, aligned: AlignedFace) -> np.ndarray:
    return points @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]


class FaceTracker:
    """`tracker.follow(frame, seconds)` -> the frame's `TrackedFace`, or None where no face is found."""

    def __init__(self, detector: FaceDetector, crop_size: int = 256, detect_every: int = 15, smoothing: bool = True,
                 min_face_size: int = 64, min_confidence: float = 0.9) -> None:
        self.detector = detector
        self.crop_size = crop_size
        self.detect_every = max(1, detect_every)
        self.smoothing = smoothing
        self.min_face_size = min_face_size
        self.min_confidence = min_confidence
        # Measured on the synthetic clips of makeup.bench.video. Cut-offs, with the teacher: 1.5 / 1.0 Hz gave
        # still-face flicker 0.106 and a lag of 0.24 frames on the moving clip, 0.5 / 0.25 Hz 0.093 and 0.26 (no
        # smoothing: 0.139). Speed term, with slim-s at 0.5 / 0.25 Hz (flicker still, flicker moving, lag):
        # beta 0.02: 0.084, 0.149, 0.38; 0.05: 0.085, 0.135, 0.29; 0.1: 0.086, 0.130, 0.22; 0.2: 0.088, 0.127,
        # 0.18; 0.4: 0.090, 0.126, 0.16; no smoothing 0.140, 0.124, 0.14. At 0.2 a still face keeps nearly all
        # of the steadiness and a moving one is followed about as closely as without smoothing.
        self._anchor_filter = OneEuroFilter(min_cutoff=0.5, beta=0.2)
        self._landmark_filter = OneEuroFilter(min_cutoff=0.25, beta=0.2)
        self._landmarks: LandmarkTracker | None = None  # made on the first frame: it needs mediapipe
        self.reset()

    def reset(self) -> None:
        self._template: np.ndarray | None = None  # anchor positions in the crop when the face was found, 0..1
        self._anchors: np.ndarray | None = None  # previous frame's anchors, frame pixels
        self._since_detection = 0
        self._last_seconds: float | None = None
        self._anchor_filter.reset()
        self._landmark_filter.reset()
        if self._landmarks is not None:
            self._landmarks.reset()
        self.detections = 0

    def follow(self, frame: np.ndarray, seconds: float) -> TrackedFace | None:
        from makeup.regions import LandmarkTracker, RegionError

        if self._landmarks is None:
            self._landmarks = LandmarkTracker()
        interval = 1 / 30 if self._last_seconds is None else max(seconds - self._last_seconds, 1e-3)
        self._last_seconds = seconds
        due = self._anchors is None or self._since_detection >= self.detect_every
        found = self._acquire(frame) if due else "kept"
        if found is None:
            self._lose()
            return None
        detected = found == "new"  # a new face (or the first): its crop starts the filters afresh
        for attempt in range(2):
            anchors = self._anchors
            if self.smoothing and not detected:
                anchors = self._anchor_filter(anchors, interval)
            aligned = align_face(frame, anchors, self.crop_size, template=self._template)
            try:
                landmarks = self._landmarks(aligned.crop)
                break
            except RegionError:
                self._anchors = None  # lost: look for the face once more, afresh
                if attempt or due or self._acquire(frame) is None:
                    self._lose()
                    return None
                detected = due = True
        self._since_detection = 0 if due else self._since_detection + 1
        in_frame = _to_frame(landmarks, aligned)
        self._anchors = in_frame[ANCHORS]
        if self.smoothing:
            in_frame = self._landmark_filter(in_frame, interval)
        box = np.concatenate([in_frame.min(axis=0), in_frame.max(axis=0)]).astype(np.float32)
        face = Face(box=box, landmarks=_five_points(in_frame), score=1.0)
        return TrackedFace(face, aligned, _to_crop(in_frame, aligned).astype(np.float32), detected)

    def _acquire(self, frame: np.ndarray) -> str | None:
        """Run the detector: "kept" when it finds the face being tracked (its framing stays), "new" when it finds
        another or the first (the anchors' template comes from its crop), None without a usable face."""
        from makeup.regions import RegionError

        self.detections += 1
        face = self.detector.largest_face(frame)
        if face is None or face.size < self.min_face_size or face.score < self.min_confidence:
            return None
        if self._anchors is not None and _overlap(face.box, self._anchors) > 0.5:
            return "kept"
        aligned = align_face(frame, face.landmarks, self.crop_size)
        self._landmarks.reset()  # another face, or the same one framed afresh: FaceMesh looks for it anew
        try:
            landmarks = self._landmarks(aligned.crop)
        except RegionError:
            return None
        self._template = landmarks[ANCHORS] / self.crop_size
        self._anchors = _to_frame(landmarks[ANCHORS], aligned)
        self._anchor_filter.reset()
        self._landmark_filter.reset()
        return "new"

    def _lose(self) -> None:
        self._anchors = None
        self._landmarks.reset()
        self._anchor_filter.reset()
        self._landmark_filter.reset()


def _five_points(landmarks: np.ndarray) -> np.ndarray:
    """MTCNN's five points (eyes, nose tip, mouth corners; left to right in the image) from FaceMesh's."""
    eyes = sorted([landmarks[[33, 133]].mean(axis=0), landmarks[[362, 263]].mean(axis=0)], key=lambda p: p[0])
    mouth = sorted([landmarks[61], landmarks[291]], key=lambda p: p[0])
    return np.stack([*eyes, landmarks[1], *mouth]).astype(np.float32)


def _overlap(box: np.ndarray, anchors: np.ndarray) -> float:
    """Intersection over union of a detected box and the tracked anchors' bounding box."""
    other = np.concatenate([anchors.min(axis=0), anchors.max(axis=0)])
    x0, y0 = np.maximum(box[:2], other[:2])
    x1, y1 = np.minimum(box[2:], other[2:])
    inter = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    union = float((box[2] - box[0]) * (box[3] - box[1]) + (other[2] - other[0]) * (other[3] - other[1])) - inter
    return inter / max(union, 1e-6)
