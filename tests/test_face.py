"""The face pipeline on real faces with the real MTCNN: detection, landmarks, the template, alignment, paste-back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from makeup.face import (
    CANONICAL_TEMPLATE,
    FaceDetector,
    FaceTooSmallError,
    LowConfidenceError,
    NoFaceError,
    align_face,
    derive_template,
    face_mask,
    mirror_landmarks,
    paste_back,
    pasted_region,
    select_face,
)

# Hand-marked on the images (pupil centres, mouth corners), (x, y) in pixels.
ASTRONAUT_POINTS = {"eyes": [(203, 101), (245, 104)], "mouth": [(203, 141), (245, 141)]}
GRACE_HOPPER_POINTS = {"eyes": [(222, 188), (307, 187)], "mouth": [(227, 279), (304, 279)]}


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    torch.set_num_threads(1)  # the suite shares two cores; MTCNN on small images gains little from more
    return FaceDetector(device="cpu")


@pytest.fixture(scope="module")
def mt_crops(detector, shared_faces) -> dict[Path, tuple[np.ndarray, np.ndarray]]:
    """Every MT crop in the shared faces with its landmarks, detected once for the tests that need them."""
    from PIL import Image

    crops = {}
    for path in sorted(shared_faces.glob("mt-*/*makeup/*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        crops[path] = image, detector.detect(image)[0].landmarks
    return crops


def eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[1] - landmarks[0]))


def masked_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two crops inside the face mask, in 8-bit levels."""
    weight = face_mask(a.shape[0])[..., None]
    return float((np.abs(a.astype(np.float32) - b.astype(np.float32)) * weight).sum() / (3 * weight.sum()))


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_landmarks_land_on_the_eyes_and_mouth(detector, request, name):
    image = request.getfixturevalue(name)
    truth = ASTRONAUT_POINTS if name == "astronaut" else GRACE_HOPPER_POINTS
    faces = detector.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    assert face.box.dtype == np.float32 and face.score > 0.99
    tolerance = 0.15 * eye_distance(np.array(truth["eyes"], dtype=np.float32))
    found = {"eyes": face.landmarks[:2], "mouth": face.landmarks[3:]}
    for part, points in truth.items():
        errors = np.linalg.norm(found[part] - np.array(points, dtype=np.float32), axis=1)
        assert (errors < tolerance).all(), f"{part}: {errors} px off (tolerance {tolerance:.1f})"
    x0, y0, x1, y1 = face.box
    assert (face.landmarks[:, 0] > x0).all() and (face.landmarks[:, 0] < x1).all()
    assert (face.landmarks[:, 1] > y0).all() and (face.landmarks[:, 1] < y1).all()


@pytest.mark.parametrize("scale", [0.6, 1.0, 3.0])
def test_largest_face_matches_the_full_search(detector, astronaut, grace_hopper, scale):
    """The quick search (large faces on a half-size copy first) finds the same face, small ones too."""
    canvas = np.full((700, 1100, 3), 200, dtype=np.uint8)
    canvas[50:650, 500:1012] = grace_hopper
    canvas[150:662, :480] = astronaut[:, :480]
    image = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    every, largest = detector.detect(image), detector.largest_face(image)
    assert len(every) == 2 and largest is not None
    assert np.abs(largest.landmarks - every[0].landmarks).max() < 0.1 * eye_distance(every[0].landmarks)
    assert detector.largest_face(np.full((240, 320, 3), 128, np.uint8)) is None



def test_large_photo_is_detected_on_a_downscaled_copy_and_mapped_back(detector, astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    small_face, big_face = detector.detect(astronaut)[0], detector.detect(big)[0]
    error = np.linalg.norm(big_face.landmarks - 4 * small_face.landmarks, axis=1)
    assert error.max() < 0.1 * eye_distance(big_face.landmarks)
    assert big_face.size == pytest.approx(4 * small_face.size, rel=0.15)


def test_face_filling_the_frame_is_found_with_accurate_landmarks(detector, astronaut):
    tight = astronaut[75:165, 185:265]  # cheek to cheek, brow to chin: MTCNN misplaces such faces without a border
    face = detector.detect(tight)[0]
    expected = np.array(ASTRONAUT_POINTS["eyes"] + ASTRONAUT_POINTS["mouth"], dtype=np.float32) - (185, 75)
    error = np.linalg.norm(face.landmarks[[0, 1, 3, 4]] - expected, axis=1)
    assert error.max() < 0.2 * eye_distance(expected)


def test_shared_faces_landmarks_match_their_parsing_masks(mt_crops, shared_faces):
    """Eye landmarks near the centres of the labelled eyes, mouth corners at the labelled lips (bisenet19)."""
    from PIL import Image

    eye_errors, mouth_errors = [], []
    for mask_path in sorted((shared_faces / "mt-ssat").glob("*-masks/*.png")):
        image_path = mask_path.parent.parent / mask_path.parent.name.replace("-masks", "") / mask_path.name
        image, landmarks = mt_crops[image_path]
        labels = cv2.resize(np.asarray(Image.open(mask_path)), image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        eyes = [np.argwhere(labels == label)[:, ::-1].mean(axis=0) for label in (4, 5) if (labels == label).any()]
        if len(eyes) < 2:  # closed or hidden eyes have no label
            continue
        eyes = np.array(sorted(eyes, key=lambda point: point[0]))
        lip_distance = cv2.distanceTransform((~np.isin(labels, (11, 12, 13))).astype(np.uint8), cv2.DIST_L2, 5)
        scale = eye_distance(eyes)
        eye_errors.append(np.linalg.norm(landmarks[:2] - eyes, axis=1).max() / scale)
        corners = np.clip(np.rint(landmarks[3:]).astype(int), 0, np.array(labels.shape[::-1]) - 1)
        mouth_errors.append(lip_distance[corners[:, 1], corners[:, 0]].max() / scale)
    assert len(eye_errors) >= 20
    assert np.mean(eye_errors) < 0.08 and np.max(eye_errors) < 0.3
    assert np.mean(mouth_errors) < 0.08 and np.max(mouth_errors) < 0.2


def test_template_is_symmetric_and_ordered():
    assert CANONICAL_TEMPLATE.shape == (5, 2) and CANONICAL_TEMPLATE.dtype == np.float32
    np.testing.assert_allclose(mirror_landmarks(CANONICAL_TEMPLATE), CANONICAL_TEMPLATE, atol=1e-4)
    left_eye, right_eye, nose, mouth_left, mouth_right = CANONICAL_TEMPLATE
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < nose[0] < mouth_right[0]
    assert left_eye[1] < nose[1] < mouth_left[1]
    assert ((CANONICAL_TEMPLATE > 0.2) & (CANONICAL_TEMPLATE < 0.8)).all()


def test_derive_template_averages_with_mirror_images():
    shifted = CANONICAL_TEMPLATE + np.array([0.05, 0.01], dtype=np.float32)
    np.testing.assert_allclose(derive_template([shifted]), CANONICAL_TEMPLATE + [0, 0.01], atol=1e-6)
    with pytest.raises(ValueError):
        derive_template([])


def test_template_constant_matches_the_mt_crops(mt_crops):
    points = [landmarks / np.array(image.shape[1::-1], dtype=np.float32) for image, landmarks in mt_crops.values()]
    assert len(points) >= 40
    np.testing.assert_allclose(derive_template(points), CANONICAL_TEMPLATE, atol=0.003)


@pytest.mark.parametrize("size", [128, 256, 384])
def test_aligned_face_lands_on_the_template(detector, astronaut, size):
    landmarks = detector.detect(astronaut)[0].landmarks
    aligned = align_face(astronaut, landmarks, size=size)
    assert aligned.crop.shape == (size, size, 3) and aligned.crop.dtype == np.uint8
    assert aligned.matrix.shape == (2, 3)
    mapped = (landmarks @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]) / size
    # a least-squares fit: each point lands near its template point (a smile widens the mouth), their mean on it
    assert np.abs(mapped - CANONICAL_TEMPLATE).max() < 0.05
    np.testing.assert_allclose(mapped.mean(axis=0), CANONICAL_TEMPLATE.mean(axis=0), atol=1e-4)
    # and the crop really shows the face there: detecting on it finds the mapped landmarks
    found = detector.detect(aligned.crop)[0].landmarks / size
    assert np.abs(found - mapped).max() < 0.03


def crop_displacement(matrix: np.ndarray, copy_matrix: np.ndarray, to_copy: np.ndarray, size: int = 256) -> float:
    """Mean distance (crop pixels) between where points of the first crop land in the copy's crop.

    `matrix` aligns the photo, `copy_matrix` aligns a copy of it made by the 2x3 warp `to_copy`.
    """
    grid = np.stack(np.meshgrid(np.linspace(0.15, 0.85, 5), np.linspace(0.15, 0.85, 5)), -1).reshape(-1, 2) * size
    inverse = cv2.invertAffineTransform(matrix)
    in_photo = grid @ inverse[:, :2].T + inverse[:, 2]
    in_copy = in_photo @ to_copy[:, :2].T + to_copy[:, 2]
    in_copy_crop = in_copy @ copy_matrix[:, :2].T + copy_matrix[:, 2]
    return float(np.linalg.norm(in_copy_crop - grid, axis=1).mean())


def test_rotated_and_scaled_copies_align_to_nearly_the_same_crop(detector, astronaut, grace_hopper):
    reference = align_face(astronaut, detector.detect(astronaut)[0].landmarks)
    height, width = astronaut.shape[:2]
    rotation = cv2.getRotationMatrix2D((224.0, 120.0), 25.0, 1.0)
    rotated = cv2.warpAffine(astronaut, rotation, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    factor = 2.5
    scaling = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2]])  # pixel centres stay centres
    scaled = cv2.resize(astronaut, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    other_person = align_face(grace_hopper, detector.detect(grace_hopper)[0].landmarks).crop
    unrelated = masked_difference(reference.crop, other_person)
    for copy, to_copy in ((rotated, rotation), (scaled, scaling)):
        aligned = align_face(copy, detector.detect(copy)[0].landmarks)
        # landmark noise moves the crop by a few pixels; a broken alignment moves it by tens
        assert crop_displacement(reference.matrix, aligned.matrix, to_copy) < 6
        difference = masked_difference(reference.crop, aligned.crop)
        assert difference < 14 and difference < unrelated / 3, (difference, unrelated)


def test_large_face_is_shrunk_without_aliasing():
    """Fine stripes shrunk 8x must average to grey; bilinear sampling alone would keep stripes (moire)."""
    stripes = np.zeros((2100, 2100, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    landmarks = CANONICAL_TEMPLATE * 2048 + 20
    aligned = align_face(stripes, landmarks, size=256)
    assert aligned.matrix[0, 0] == pytest.approx(0.125, rel=1e-3)
    assert abs(float(aligned.crop.mean()) - 127.5) < 3
    assert aligned.crop.std() < 4
    naive = cv2.warpAffine(stripes, aligned.matrix, (256, 256), flags=cv2.INTER_LINEAR)
    # what the shrink protects against: sampling lands on one phase of the stripes (or beats with them)
    assert abs(float(naive.mean()) - 127.5) > 50 or naive.std() > 40


def test_paste_back_of_an_unchanged_crop_reproduces_the_photo(detector, grace_hopper):
    aligned = align_face(grace_hopper, detector.detect(grace_hopper)[0].landmarks)
    np.testing.assert_array_equal(paste_back(grace_hopper, aligned, aligned.crop), grace_hopper)
    resampled = paste_back(grace_hopper, aligned, aligned.crop, preserve_detail=False)
    x0, y0, x1, y1 = pasted_region(aligned, grace_hopper.shape, face_mask(aligned.size))
    outside = np.ones(grace_hopper.shape[:2], dtype=bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(resampled[outside], grace_hopper[outside])
    error = np.abs(resampled.astype(np.int16) - grace_hopper)[y0:y1, x0:x1]
    assert error.mean() < 2.0 and np.percentile(error, 99) < 20


def test_paste_back_changes_only_the_face_region(detector, astronaut):
    aligned = align_face(astronaut, detector.detect(astronaut)[0].landmarks)
    white = np.full_like(aligned.crop, 255)
    original = astronaut.copy()
    result = paste_back(astronaut, aligned, white)
    np.testing.assert_array_equal(astronaut, original)  # not in place unless asked
    x0, y0, x1, y1 = pasted_region(aligned, astronaut.shape, face_mask(aligned.size))
    changed = np.argwhere((result != astronaut).any(axis=2))
    assert changed[:, 0].min() >= y0 and changed[:, 0].max() < y1
    assert changed[:, 1].min() >= x0 and changed[:, 1].max() < x1
    eyes_and_mouth = np.rint(detector.detect(astronaut)[0].landmarks[[0, 1, 3, 4]]).astype(int)
    assert (result[eyes_and_mouth[:, 1], eyes_and_mouth[:, 0]] > 240).all()
    corner_of_box = result[y0, x0]
    np.testing.assert_array_equal(corner_of_box, astronaut[y0, x0])  # feathered to nothing at the box's edge
    in_place = astronaut.copy()
    assert paste_back(in_place, aligned, white, inplace=True) is in_place
    np.testing.assert_array_equal(in_place, result)


def test_paste_back_checks_shapes(detector, astronaut):
    aligned = align_face(astronaut, detector.detect(astronaut)[0].landmarks, size=128)
    with pytest.raises(ValueError, match="does not match"):
        paste_back(astronaut, aligned, np.zeros((256, 256, 3), np.uint8))
    with pytest.raises(ValueError, match="mask"):
        paste_back(astronaut, aligned, aligned.crop, mask=np.ones((64, 64), np.float32))


def test_no_face_raises_a_typed_error_naming_the_image(detector):
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    assert detector.detect(gradient) == []
    with pytest.raises(NoFaceError, match="reference image") as caught:
        detector.find_face(gradient, role="reference")
    assert caught.value.role == "reference"


def test_small_face_raises_face_too_small(detector, astronaut):
    small = cv2.resize(astronaut, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)  # face about 53 px
    faces = detector.detect(small)
    assert len(faces) == 1
    with pytest.raises(FaceTooSmallError, match="source image") as caught:
        select_face(faces, role="source", min_size=64)
    assert caught.value.size < 64
    assert select_face(faces, role="source", min_size=32) is faces[0]


def test_low_confidence_raises_its_own_error(detector, astronaut):
    faces = detector.detect(astronaut)
    with pytest.raises(LowConfidenceError, match="source image"):
        select_face(faces, role="source", min_score=faces[0].score + (1 - faces[0].score) / 2)


def test_two_faces_are_listed_largest_first(detector, astronaut, grace_hopper):
    canvas = np.full((700, 1100, 3), 200, dtype=np.uint8)
    canvas[50:650, 500:1012] = grace_hopper  # face about 185 px
    canvas[150:662, :512][:, :480] = astronaut[:, :480]  # face about 90 px
    faces = detector.detect(canvas)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] > 500 and faces[1].box[2] < 480
    assert select_face(faces) is faces[0]


def test_detect_rejects_non_rgb_arrays(detector, astronaut):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detector.detect(astronaut[..., 0])
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detector.detect(astronaut.astype(np.float32))


@pytest.mark.shared_data
@pytest.mark.slow
def test_detection_on_a_small_copy_finds_the_faces_that_full_size_detection_finds(detector, shared_faces):
    """The pipeline looks for the largest face on a small copy of a large photo and maps it back; on the
    development faces, each scaled into a 1 MP photo, it finds the face MTCNN finds at full size, with landmarks
    within a few hundredths of the eye distance (`makeup bench --detection` measures all of them, at 12 MP too)."""
    from makeup.bench.detection import compare, development_photos
    from makeup.bench.pipeline import synthetic_photo

    photos = development_photos(shared_faces, 8)
    results = [compare(detector, synthetic_photo(1, np.asarray(Image.open(path).convert("RGB")))) for path in photos]
    results = [result for result in results if result is not None]
    assert len(results) >= 6
    assert all(result["found"] and result["iou"] > 0.8 for result in results)
    assert np.mean([result["mean_error"] for result in results]) < 0.05
    assert max(result["max_error"] for result in results) < 0.12
