"""Faces: detect with MTCNN, align to the canonical template, paste the model's output back at full resolution."""

from makeup.face.align import AlignedFace, align_face, similarity_matrix, warp_to_crop
from makeup.face.detect import (
    Face,
    FaceDetector,
    check_face,
    default_device,
    detect_faces,
    select_face,
    shared_detector,
)
from makeup.face.paste import face_mask, paste_back, pasted_region
from makeup.face.errors import FaceError, FaceTooSmallError, LowConfidenceError, NoFaceError
from makeup.face.template import CANONICAL_TEMPLATE, derive_template, mirror_landmarks

__all__ = [
    "CANONICAL_TEMPLATE",
    "AlignedFace",
    "Face",
    "FaceDetector",
    "FaceError",
    "FaceTooSmallError",
    "LowConfidenceError",
    "NoFaceError",
    "align_face",
    "check_face",
    "default_device",
    "derive_template",
    "detect_faces",
    "face_mask",
    "mirror_landmarks",
    "paste_back",
    "pasted_region",
    "select_face",
    "shared_detector",
    "similarity_matrix",
    "warp_to_crop",
]
