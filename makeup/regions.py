"""Face-region masks (lips, eyes, brows, eye shadow, cheeks, skin) from FaceMesh landmarks or from label maps.

Masks are float32 `{0, 1}` arrays the size of the crop. "left"/"right" are the *image's* left and right (the
viewer's), which is the convention of the bisenet19 and mt14 label maps; a horizontal flip swaps them
(`flip_masks`). Only `detect_landmarks` and `LandmarkTracker` need mediapipe (imported on first use); everything
else runs with numpy and OpenCV, so training reads masks from a prepared cache with nothing more installed.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import cv2
import numpy as np

# Regions of the histogram (makeup) loss, in the order of every batch tensor.
HISTOGRAM_REGIONS = ("lips", "skin", "eyeshadow_left", "eyeshadow_right")

# Every region this module produces, in the order the prepared cache stores them.
REGIONS = (
    "face",
    "skin",
    "lips",
    "mouth",
    "nose",
    "eye_left",
    "eye_right",
    "brow_left",
    "brow_right",
    "eyeshadow_left",
    "eyeshadow_right",
    "eyering_left",
    "eyering_right",
    "cheek_left",
    "cheek_right",
)

# The parts drawn directly from landmarks or label maps; the other regions are derived from them.
PARTS = ("face", "lips", "mouth", "nose", "eye_left", "eye_right", "brow_left", "brow_right")

LABEL_CONVENTIONS = ("bisenet19", "mt14")

# FaceMesh (478 points) contours, ordered around each outline. Image-left parts are the subject's right side.
_FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
              148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
_LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
_LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
_EYE_IMAGE_LEFT = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
_EYE_IMAGE_RIGHT = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
_BROW_IMAGE_LEFT = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46]
_BROW_IMAGE_RIGHT = [300, 293, 334, 296, 336, 285, 295, 282, 283, 276]
# The nose is drawn as the convex hull of its bridge, tip, wings and base.
_NOSE_POINTS = [168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 64, 294, 48, 278, 115, 344, 220, 440,
                45, 275, 129, 358, 193, 417]
LANDMARK_COUNT = 478

# Label-map values of each part; bisenet19 is CelebAMask-HQ parsing, mt14 the MT dataset's segs/.
_LABELS = {
    "bisenet19": {
        "skin": (1,), "nose": (10,), "lips": (12, 13), "mouth": (11,),
        "eye_left": (4,), "eye_right": (5,), "brow_left": (2,), "brow_right": (3,),
    },
    "mt14": {
        "skin": (1,), "nose": (6,), "lips": (7, 9), "mouth": (8,),
        "eye_left": (4,), "eye_right": (5,), "brow_left": (2,), "brow_right": (3,),
    },
}

# BeautyGAN's eye-shadow box: each eye's bounding box enlarged by 10 px on every side at 256 px.
_EYESHADOW_MARGIN_AT_256 = 10.0
_EYERING_RADIUS_AT_256 = 12.0


class RegionError(ValueError):
    """Masks cannot be computed: no face landmarks found, a wrong label convention or a bad input."""


class MissingDependencyError(ImportError):
    """An optional package is needed for this step but is not installed."""


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """The 478 FaceMesh landmarks of the largest face in an HxWx3 uint8 RGB image, as (478, 2) float32 pixels (x, y).

    Needs mediapipe 0.10.21 (the `train` extra). Raises `RegionError` when no face is found.
    """
    global _MESH
    image = _check_rgb(image)
    with _MESH_LOCK:  # a FaceMesh graph is not safe to run from two threads at once
        if _MESH is None:
            _MESH = _new_face_mesh(video=False)
        return _landmarks_of(_MESH, image)


_MESH = None
_MESH_LOCK = threading.Lock()


class LandmarkTracker:
    """FaceMesh in its video mode, for one stream of frames: `tracker(image)` -> (478, 2) pixels like
    `detect_landmarks`, each call starting from the previous call's landmarks instead of running FaceMesh's own
    face detector (2.5 ms instead of 8 on a 256 px crop on 2 cores). Meant for consecutive crops of one face;
    `reset()` before a crop of another face or after one was lost."""

    def __init__(self) -> None:
        self._mesh = _new_face_mesh(video=True)
        self._lock = threading.Lock()
        weakref.finalize(self, self._mesh.close)  # the graph's threads end with the tracker

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_rgb(image)
        with self._lock:
            return _landmarks_of(self._mesh, image)

    def reset(self) -> None:
        with self._lock:
            self._mesh.reset()


def _landmarks_of(mesh, image: np.ndarray) -> np.ndarray:
    result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise RegionError("FaceMesh found no face in the image: use a crop that shows one face, roughly frontal.")
    height, width = image.shape[:2]
    points = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], dtype=np.float32)
    return points * np.array([width, height], dtype=np.float32)


def _new_face_mesh(video: bool):
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as error:
        raise MissingDependencyError(
            "face-region masks from photos need mediapipe 0.10.21 (the last release that bundles the FaceMesh "
            "model): pip install 'makeup[train]' or pip install mediapipe==0.10.21"
        ) from error
    return face_mesh.FaceMesh(
        static_image_mode=not video, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
    )


def masks_from_image(image: np.ndarray) -> dict[str, np.ndarray]:
    """All `REGIONS` of an aligned face crop (needs mediapipe; see `detect_landmarks`)."""
    return masks_from_landmarks(detect_landmarks(image), image.shape[:2])


def masks_from_landmarks(landmarks: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """All `REGIONS` from (478, 2) FaceMesh landmarks in pixels of an image of `shape` (height, width)."""
    return complete_regions(parts_from_landmarks(landmarks, shape))


def masks_from_labels(
    label_map: np.ndarray, convention: str, shape: tuple[int, int] | None = None
) -> dict[str, np.ndarray]:
    """All `REGIONS` from a face-parsing label map in `convention` ("bisenet19" or "mt14").

    The map is resized to `shape` (height, width) with nearest-neighbour first when given (label maps are often
    not the image's size). Skin here is face skin plus nose (the neck is left out, as FaceMesh has none).
    """
    return complete_regions(parts_from_labels(label_map, convention, shape))


def parts_from_landmarks(landmarks: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The directly drawn `PARTS` as polygons of the landmarks (sub-pixel accurate)."""
    points = np.asarray(landmarks, dtype=np.float32)
    if points.ndim != 2 or points.shape[0] < LANDMARK_COUNT - 10 or points.shape[1] != 2:
        raise RegionError(f"expected (478, 2) FaceMesh landmarks, got shape {points.shape}")
    height, width = int(shape[0]), int(shape[1])

    def polygon(indices: list[int]) -> np.ndarray:
        return _fill(points[indices], height, width)

    nose_hull = cv2.convexHull(points[_NOSE_POINTS]).reshape(-1, 2)
    mouth = polygon(_LIPS_INNER)
    return {
        "face": polygon(_FACE_OVAL),
        "lips": np.clip(polygon(_LIPS_OUTER) - mouth, 0, 1),
        "mouth": mouth,
        "nose": _fill(nose_hull, height, width),
        "eye_left": polygon(_EYE_IMAGE_LEFT),
        "eye_right": polygon(_EYE_IMAGE_RIGHT),
        "brow_left": polygon(_BROW_IMAGE_LEFT),
        "brow_right": polygon(_BROW_IMAGE_RIGHT),
    }


def parts_from_labels(
    label_map: np.ndarray, convention: str, shape: tuple[int, int] | None = None
) -> dict[str, np.ndarray]:
    """The `PARTS` read from a label map (see `masks_from_labels`)."""
    if convention not in _LABELS:
        raise RegionError(f"unknown label convention {convention!r}: use one of {', '.join(LABEL_CONVENTIONS)}")
    labels = np.asarray(label_map)
    if labels.ndim == 3:  # label maps saved as RGB/BGR carry the label in every channel
        labels = labels[..., 0]
    if labels.ndim != 2:
        raise RegionError(f"a label map must be HxW, got shape {np.asarray(label_map).shape}")
    if shape is not None and labels.shape != tuple(shape[:2]):
        labels = cv2.resize(labels.astype(np.uint8), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_NEAREST)
    table = _LABELS[convention]
    parts = {name: np.isin(labels, values).astype(np.float32) for name, values in table.items() if name != "skin"}
    face = np.isin(labels, [v for values in table.values() for v in values])
    parts["face"] = face.astype(np.float32)
    return {name: parts[name] for name in PARTS}


def complete_regions(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Derive skin, eye-shadow boxes, eye rings and cheeks from the `PARTS`; returns all `REGIONS`."""
    face = parts["face"]
    height, width = face.shape
    scale = min(height, width) / 256.0
    features = _union([parts[n] for n in ("lips", "mouth", "eye_left", "eye_right", "brow_left", "brow_right")])
    skin = np.clip(face - features, 0, 1)
    masks = dict(parts)
    masks["skin"] = skin
    eyes_and_brows = _union([parts[n] for n in ("eye_left", "eye_right", "brow_left", "brow_right")])
    ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * round(_EYERING_RADIUS_AT_256 * scale) + 1,) * 2)
    for side in ("left", "right"):
        eye = parts[f"eye_{side}"]
        masks[f"eyeshadow_{side}"] = _box(eye, _EYESHADOW_MARGIN_AT_256 * scale) * skin
        ring = _dilate_near(eye, ring_kernel)
        masks[f"eyering_{side}"] = np.clip(ring - eyes_and_brows, 0, 1) * face
    masks.update(cheek_masks(parts, skin))
    return {name: masks[name].astype(np.float32, copy=False) for name in REGIONS}


def _dilate_near(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`cv2.dilate(mask, kernel)` computed only around the mask's nonzero pixels (the same result: a dilation
    reaches no further than the kernel), several times faster for a small part such as an eye."""
    bounds = bounding_box(mask != 0)
    if bounds is None:
        return np.zeros_like(mask)
    reach_y, reach_x = kernel.shape[0] // 2 + 1, kernel.shape[1] // 2 + 1
    y0, y1 = max(bounds[0] - reach_y, 0), min(bounds[1] + reach_y, mask.shape[0])
    x0, x1 = max(bounds[2] - reach_x, 0), min(bounds[3] + reach_x, mask.shape[1])
    result = np.zeros_like(mask)
    result[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1], kernel)
    return result


def cheek_masks(parts: dict[str, np.ndarray], skin: np.ndarray) -> dict[str, np.ndarray]:
    """Cheek ellipses below each eye and beside the nose, clipped to skin (the area blush goes on)."""
    height, width = skin.shape
    geometry = face_geometry(parts)
    masks = {}
    for side in ("left", "right"):
        centre, axes, angle = geometry.cheek_ellipse(side)
        mask = np.zeros((height, width), np.uint8)
        if axes[0] > 0 and axes[1] > 0:
            cv2.ellipse(mask, (centre, axes, angle), 1, -1, cv2.LINE_8)
        masks[f"cheek_{side}"] = mask.astype(np.float32) * skin * (1 - parts["nose"])
    return masks


@dataclass(frozen=True)
class FaceGeometry:
    """Landmark-free geometry of a face from its part masks: eye and mouth centres, (x, y) in pixels."""

    eye_left: np.ndarray
    eye_right: np.ndarray
    mouth: np.ndarray

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.eye_right - self.eye_left))

    def cheek_ellipse(
        self, side: str, lift: float = 0.0, spread: float = 0.0
    ) -> tuple[tuple[float, float], tuple[float, float], float]:
        """(centre, full axes, angle) of a cheek under the `side` eye; `lift` moves it up toward the cheekbone and
        `spread` out toward the ear, both in fractions of the eye distance."""
        eye = self.eye_left if side == "left" else self.eye_right
        outward = -1.0 if side == "left" else 1.0
        distance = self.eye_distance
        centre_y = eye[1] + (self.mouth[1] - eye[1]) * (0.55 - lift)
        centre_x = eye[0] + outward * distance * (0.08 + spread)
        axes = (distance * 0.52, distance * 0.36)
        angle = -outward * 15.0 * (1.0 + 2.0 * lift)  # tilted up toward the temple, more so when lifted
        return (float(centre_x), float(centre_y)), (float(axes[0]), float(axes[1])), angle


def face_geometry(parts: dict[str, np.ndarray]) -> FaceGeometry:
    """Eye and mouth centres from the part masks (falls back on fixed proportions of the face box)."""
    face = parts["face"]
    bounds = bounding_box(face > 0.5)
    if bounds is None:
        height, width = face.shape
        x0, y0, x1, y1 = 0.0, 0.0, float(width), float(height)
    else:
        x0, y0, x1, y1 = float(bounds[2]), float(bounds[0]), float(bounds[3] - 1), float(bounds[1] - 1)
    face_width = max(x1 - x0, 1.0)

    def centre(mask: np.ndarray, default: tuple[float, float]) -> np.ndarray:
        m = cv2.moments((mask > 0.5).view(np.uint8), binaryImage=True)
        if m["m00"] < 1:
            return np.array(default, dtype=np.float32)
        return np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]], dtype=np.float32)

    face_height = y1 - y0
    eye_left = centre(parts["eye_left"], (x0 + 0.3 * face_width, y0 + 0.4 * face_height))
    eye_right = centre(parts["eye_right"], (x0 + 0.7 * face_width, y0 + 0.4 * face_height))
    mouth = centre(np.maximum(parts["lips"], parts["mouth"]), (x0 + 0.5 * face_width, y0 + 0.8 * face_height))
    return FaceGeometry(eye_left, eye_right, mouth)


def histogram_masks(masks: dict[str, np.ndarray]) -> np.ndarray:
    """The (4, H, W) float32 stack of `HISTOGRAM_REGIONS` for the makeup loss."""
    return np.stack([masks[name] for name in HISTOGRAM_REGIONS]).astype(np.float32)


def flip_masks(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Masks of the horizontally flipped image: every mask mirrored, left and right swapped."""
    flipped = {}
    for name, mask in masks.items():
        flipped[swap_side(name)] = np.ascontiguousarray(mask[:, ::-1])
    return flipped


def swap_side(name: str) -> str:
    """`eye_left` <-> `eye_right` (names without a side are returned unchanged)."""
    if name.endswith("_left"):
        return name[: -len("_left")] + "_right"
    if name.endswith("_right"):
        return name[: -len("_right")] + "_left"
    return name


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two binary masks (1.0 when both are empty)."""
    a = np.asarray(a) > 0.5
    b = np.asarray(b) > 0.5
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _fill(points: np.ndarray, height: int, width: int) -> np.ndarray:
    shift = 4  # sub-pixel vertices: coordinates in 1/16 px
    vertices = np.round(np.asarray(points, dtype=np.float64) * (1 << shift)).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [vertices.reshape(-1, 1, 2)], 1, cv2.LINE_8, shift)
    return mask.astype(np.float32)


def _box(mask: np.ndarray, margin: float) -> np.ndarray:
    box = np.zeros_like(mask)
    bounds = bounding_box(mask > 0.5)
    if bounds is None:
        return box
    height, width = mask.shape
    m = int(round(margin))
    box[max(bounds[0] - m, 0) : min(bounds[1] + m, height), max(bounds[2] - m, 0) : min(bounds[3] + m, width)] = 1
    return box


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1), ends excluded, of a bool mask's True pixels; None when there are none."""
    x, y, width, height = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    return None if width == 0 else (y, y + height, x, x + width)


def _union(masks: list[np.ndarray]) -> np.ndarray:
    """The pixelwise maximum of same-sized masks (without stacking them first)."""
    union = masks[0].copy()
    for mask in masks[1:]:
        np.maximum(union, mask, out=union)
    return union


def _check_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise RegionError(f"expected an HxWx3 uint8 RGB image, got shape {array.shape} and dtype {array.dtype}")
    return np.ascontiguousarray(array)
