"""Face-region masks: FaceMesh polygons on real faces, label-map converters, flips, and IoU against BiSeNet."""

from __future__ import annotations

import csv
import sys

import cv2
import numpy as np
import pytest

from makeup import regions
from makeup.regions import HISTOGRAM_REGIONS, REGIONS, RegionError


@pytest.fixture(scope="module")
def astronaut_crop(astronaut) -> np.ndarray:
    from makeup.face import align_face, detect_faces

    face = detect_faces(astronaut)[0]
    return align_face(astronaut, face.landmarks, size=256).crop


@pytest.fixture(scope="module")
def astronaut_masks(astronaut_crop) -> dict[str, np.ndarray]:
    pytest.importorskip("mediapipe", reason="FaceMesh masks need mediapipe 0.10.21 (the train extra)")
    return regions.masks_from_image(astronaut_crop)


def _centre(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask > 0.5)
    return float(xs.mean()), float(ys.mean())


def test_histogram_regions_contract():
    assert HISTOGRAM_REGIONS == ("lips", "skin", "eyeshadow_left", "eyeshadow_right")
    assert set(HISTOGRAM_REGIONS) <= set(REGIONS)


def test_masks_on_a_real_face_sit_where_the_features_are(astronaut_masks):
    masks = astronaut_masks
    assert list(masks) == list(REGIONS)
    for name, mask in masks.items():
        assert mask.shape == (256, 256) and mask.dtype == np.float32, name
        assert set(np.unique(mask)) <= {0.0, 1.0}, name
        assert mask.sum() > 20, f"{name} is empty"
    (lx, ly), (rx, ry) = _centre(masks["eye_left"]), _centre(masks["eye_right"])
    assert lx < 128 < rx, "left means the image's left"
    assert abs(ly - ry) < 15
    mouth_x, mouth_y = _centre(masks["lips"])
    assert mouth_y > ly + 40 and lx < mouth_x < rx
    for side in ("left", "right"):
        bx, by = _centre(masks[f"brow_{side}"])
        ex, ey = _centre(masks[f"eye_{side}"])
        assert by < ey, "brows are above the eyes"
        cx, cy = _centre(masks[f"cheek_{side}"])
        assert ey < cy < mouth_y + 10
    # Regions that must not overlap: what makeup may touch never covers the eyes or the mouth opening.
    eyes = masks["eye_left"] + masks["eye_right"]
    assert (masks["skin"] * eyes).sum() == 0
    assert (masks["lips"] * masks["mouth"]).sum() == 0
    assert ((masks["eyeshadow_left"] + masks["eyeshadow_right"] + masks["eyering_left"]) * eyes).sum() == 0
    stack = regions.histogram_masks(masks)
    assert stack.shape == (4, 256, 256) and stack.dtype == np.float32


def test_masks_scale_with_crop_size(astronaut_crop, astronaut_masks):
    small = cv2.resize(astronaut_crop, (128, 128), interpolation=cv2.INTER_AREA)
    landmarks = regions.detect_landmarks(small)
    masks_small = regions.masks_from_landmarks(landmarks, (128, 128))
    for name in ("lips", "skin", "eye_left", "eyeshadow_right"):
        up = cv2.resize(masks_small[name], (256, 256), interpolation=cv2.INTER_NEAREST)
        assert regions.mask_iou(up, astronaut_masks[name]) > 0.6, name


def test_flip_swaps_left_and_right(astronaut_masks):
    flipped = regions.flip_masks(astronaut_masks)
    assert set(flipped) == set(astronaut_masks)
    np.testing.assert_array_equal(flipped["eye_right"], astronaut_masks["eye_left"][:, ::-1])
    np.testing.assert_array_equal(flipped["lips"], astronaut_masks["lips"][:, ::-1])
    assert regions.swap_side("cheek_left") == "cheek_right" and regions.swap_side("skin") == "skin"


def _label_face(labels: dict[str, int], size: int = 256) -> np.ndarray:
    """A label map drawn by hand: face oval, eyes, brows, nose, lips and an open mouth at known places."""
    label_map = np.zeros((size, size), np.uint8)
    cv2.ellipse(label_map, (128, 135), (80, 105), 0, 0, 360, labels["skin"], -1)
    cv2.rectangle(label_map, (80, 100), (105, 110), labels["eye_left"], -1)
    cv2.rectangle(label_map, (150, 100), (175, 110), labels["eye_right"], -1)
    cv2.rectangle(label_map, (75, 80), (110, 86), labels["brow_left"], -1)
    cv2.rectangle(label_map, (145, 80), (180, 86), labels["brow_right"], -1)
    cv2.rectangle(label_map, (118, 110), (138, 160), labels["nose"], -1)
    cv2.rectangle(label_map, (100, 180), (156, 186), labels["upper_lip"], -1)
    cv2.rectangle(label_map, (100, 187), (156, 190), labels["mouth"], -1)
    cv2.rectangle(label_map, (100, 191), (156, 200), labels["lower_lip"], -1)
    return label_map


@pytest.mark.parametrize(
    "convention, labels",
    [
        ("bisenet19", dict(skin=1, brow_left=2, brow_right=3, eye_left=4, eye_right=5, nose=10, mouth=11,
                           upper_lip=12, lower_lip=13)),
        ("mt14", dict(skin=1, brow_left=2, brow_right=3, eye_left=4, eye_right=5, nose=6, upper_lip=7, mouth=8,
                      lower_lip=9)),
    ],
)
def test_label_converters(convention, labels):
    label_map = _label_face(labels)
    masks = regions.masks_from_labels(label_map, convention)
    assert masks["lips"].sum() == 57 * 7 + 57 * 10
    assert masks["mouth"].sum() == 57 * 4
    assert masks["eye_left"][105, 90] == 1 and masks["eye_right"][105, 160] == 1
    assert masks["nose"][130, 128] == 1 and masks["skin"][130, 128] == 1, "skin includes the nose"
    assert masks["skin"][105, 90] == 0 and masks["skin"][195, 120] == 0
    # BeautyGAN's eye shadow: skin inside the eye's box grown by 10 px at 256 px.
    shadow = masks["eyeshadow_left"]
    ys, xs = np.nonzero(shadow)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (70, 115, 90, 120)
    assert (shadow * masks["brow_left"]).sum() == 0
    # A smaller label map is resized to the requested shape with nearest neighbour.
    half = cv2.resize(label_map, (128, 128), interpolation=cv2.INTER_NEAREST)
    resized = regions.masks_from_labels(half, convention, (256, 256))
    assert regions.mask_iou(resized["lips"], masks["lips"]) > 0.8


def test_bad_inputs_give_typed_errors():
    with pytest.raises(RegionError, match="unknown label convention"):
        regions.masks_from_labels(np.zeros((8, 8), np.uint8), "celeba")
    with pytest.raises(RegionError, match="478"):
        regions.masks_from_landmarks(np.zeros((5, 2)), (256, 256))
    with pytest.raises(RegionError, match="uint8"):
        regions.detect_landmarks(np.zeros((64, 64), np.float32))


def test_no_face_is_a_clear_error():
    pytest.importorskip("mediapipe")
    with pytest.raises(RegionError, match="no face"):
        regions.detect_landmarks(np.full((256, 256, 3), 127, np.uint8))


@pytest.mark.shared_data
def test_iou_against_bisenet_masks_of_the_mt_images(shared_faces):
    """FaceMesh masks vs the BiSeNet parsing shipped with the mt-ssat images (at 256 px)."""
    pytest.importorskip("mediapipe")
    with open(shared_faces / "manifest.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["mask_labels"] == "bisenet19"]
    assert rows
    scores: dict[str, list[float]] = {"lips": [], "eyes": [], "skin": []}
    for row in rows:
        image = cv2.cvtColor(cv2.imread(str(shared_faces / row["image"])), cv2.COLOR_BGR2RGB)
        image = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
        ours = regions.masks_from_image(image)
        truth = regions.masks_from_labels(cv2.imread(str(shared_faces / row["mask"]), 0), "bisenet19", (256, 256))
        scores["lips"].append(regions.mask_iou(ours["lips"], truth["lips"]))
        eyes = (ours["eye_left"] + ours["eye_right"], truth["eye_left"] + truth["eye_right"])
        scores["eyes"].append(regions.mask_iou(*eyes))
        scores["skin"].append(regions.mask_iou(ours["skin"], truth["skin"]))
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    assert min(means.values()) > 0.75, means


def test_missing_mediapipe_says_what_to_install(monkeypatch):
    for name in [name for name in sys.modules if name.split(".")[0] == "mediapipe"] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    monkeypatch.setattr(regions, "_MESH", None)
    with pytest.raises(regions.MissingDependencyError, match="pip install"):
        regions.detect_landmarks(np.zeros((64, 64, 3), np.uint8))


def test_landmark_tracker_follows_a_moving_face_as_still_detection_finds_it(astronaut_crop):
    """FaceMesh's video mode (no face detector between frames) lands where the still mode does, frame after frame
    as the face shifts, and finds the face again after a frame without one."""
    pytest.importorskip("mediapipe", reason="FaceMesh needs mediapipe 0.10.21 (the train extra)")
    tracker = regions.LandmarkTracker()
    still = regions.detect_landmarks(astronaut_crop)
    eye_distance = float(np.linalg.norm(still[33] - still[263]))
    for shift in (0, 2, 4, 6, 8):
        frame = np.ascontiguousarray(np.roll(astronaut_crop, shift, axis=1))
        tracked, still = tracker(frame), regions.detect_landmarks(frame)
        assert tracked.shape == (478, 2)
        assert np.abs(tracked - still).mean() < 0.015 * eye_distance, shift
    with pytest.raises(RegionError):
        tracker(np.full_like(astronaut_crop, 127))
    tracker.reset()
    again = tracker(astronaut_crop)
    assert np.abs(again - regions.detect_landmarks(astronaut_crop)).mean() < 0.015 * eye_distance
