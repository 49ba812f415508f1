"""MakeupPipeline end to end on real faces with real MTCNN and real (untrained, explicitly allowed) models."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from makeup.face import FaceDetector, FaceTooSmallError, NoFaceError, face_mask, pasted_region
from makeup.io import UnreadableImageError, save_image
from makeup.transfer import STAGES, MakeupPipeline, PreparedImage, UntrainedModelError, blend
from makeup.weights import UntrainedModelWarning, WeightsError

UNTRAINED_MODEL = "beautygan-concat"  # an architecture without trained weights
OTHER_MODEL = "ddb-student"
CROP = 128


class CountingDetector(FaceDetector):
    """The real detector, counting how often it runs."""

    calls = 0

    def detect(self, image):
        self.calls += 1
        return super().detect(image)

    def largest_face(self, image):
        self.calls += 1
        return super().largest_face(image)


@pytest.fixture(scope="module")
def detector() -> CountingDetector:
    torch.set_num_threads(1)
    return CountingDetector(device="cpu")


@pytest.fixture(scope="module")
def pipeline(detector) -> MakeupPipeline:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        return MakeupPipeline(
            models=[UNTRAINED_MODEL, OTHER_MODEL], device="cpu", allow_untrained=True, crop_size=CROP, detector=detector
        )


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.argwhere((before != after).any(axis=2))


def test_untrained_models_are_refused_unless_allowed(detector):
    with pytest.raises(UntrainedModelError, match="allow_untrained=True") as caught:
        MakeupPipeline(models=[UNTRAINED_MODEL], device="cpu", detector=detector)
    assert isinstance(caught.value, WeightsError)
    with pytest.warns(UntrainedModelWarning):
        MakeupPipeline(models=[UNTRAINED_MODEL], device="cpu", detector=detector, allow_untrained=True)


def test_transfer_returns_everything_and_says_the_model_is_untrained(pipeline, astronaut, grace_hopper):
    result = pipeline.transfer(astronaut, grace_hopper)
    assert result.model == UNTRAINED_MODEL and result.trained is False and result.device == "cpu"
    assert result.image.shape == astronaut.shape and result.image.dtype == np.uint8
    assert result.source_crop.shape == result.reference_crop.shape == (CROP, CROP, 3)
    assert result.output.shape == result.demakeup.shape == (CROP, CROP, 3)
    assert len(result.source_faces) == 1 and result.source_face.box.shape == (4,)
    assert result.boxes["reference"][0][0] > 150 and result.landmarks["source"][0].shape == (5, 2)
    assert set(result.timings) == {*STAGES, "total"}
    assert result.timings["total"] == pytest.approx(sum(v for k, v in result.timings.items() if k != "total"))
    assert not np.array_equal(result.output, result.source_crop)


def test_only_the_face_region_of_the_full_resolution_photo_changes(pipeline, astronaut, grace_hopper):
    big = cv2.resize(astronaut, (1600, 1600), interpolation=cv2.INTER_CUBIC)
    result = pipeline.transfer(big, grace_hopper)
    assert result.image.shape == big.shape
    prepared = pipeline.prepare(big)
    x0, y0, x1, y1 = pasted_region(prepared.aligned[0], big.shape, face_mask(CROP))
    changed = changed_pixels(big, result.image)
    assert len(changed) > 1000
    assert changed[:, 0].min() >= y0 and changed[:, 0].max() < y1
    assert changed[:, 1].min() >= x0 and changed[:, 1].max() < x1
    assert (x1 - x0) * (y1 - y0) < 0.25 * big.shape[0] * big.shape[1]


def test_intensity_blends_between_source_and_full_transfer(pipeline, astronaut, grace_hopper):
    source = pipeline.prepare(astronaut)
    none = pipeline.transfer(source, grace_hopper, intensity=0.0)
    np.testing.assert_array_equal(none.image, astronaut)
    full = pipeline.transfer(source, grace_hopper, intensity=1.0)
    half = pipeline.transfer(source, grace_hopper, intensity=0.5)
    np.testing.assert_array_equal(full.output, half.output)  # the raw output does not depend on intensity
    full_change = np.abs(full.image.astype(np.int16) - astronaut).sum()
    half_change = np.abs(half.image.astype(np.int16) - astronaut).sum()
    assert 0.35 * full_change < half_change < 0.65 * full_change
    with pytest.raises(ValueError, match="intensity"):
        pipeline.transfer(source, grace_hopper, intensity=1.5)


def test_blend_endpoints_and_midpoint():
    a, b = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)
    assert blend(a, b, 0.0) is a and blend(a, b, 1.0) is b
    assert (blend(a, b, 0.25) == 50).all()


def test_transfer_all_detects_once_and_runs_every_model(pipeline, detector, astronaut, grace_hopper):
    before = detector.calls
    pipeline.references.clear()  # earlier tests used the same reference
    results = pipeline.transfer_all(astronaut, grace_hopper)
    assert detector.calls - before == 2  # the source and the reference, once each
    assert list(results) == [UNTRAINED_MODEL, OTHER_MODEL]
    first, second = results.values()
    np.testing.assert_array_equal(first.source_crop, second.source_crop)
    assert not np.array_equal(first.output, second.output)
    assert first.image is not second.image


def test_prepared_image_is_not_changed_by_transfers(pipeline, astronaut, grace_hopper):
    source = pipeline.prepare(astronaut)
    reference = pipeline.prepare(grace_hopper, role="reference")
    assert isinstance(source, PreparedImage) and source.role == "source" and reference.role == "reference"
    pipeline.transfer(source, reference)
    pipeline.transfer(source, reference, model=OTHER_MODEL)
    np.testing.assert_array_equal(source.image, astronaut)


def test_files_in_and_errors_name_the_image(pipeline, tmp_path, astronaut, grace_hopper):
    save_image(astronaut, tmp_path / "source.jpg")
    result = pipeline.transfer(tmp_path / "source.jpg", grace_hopper)
    assert result.image.shape == astronaut.shape
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(UnreadableImageError, match="source image"):
        pipeline.transfer(tmp_path / "notes.txt", grace_hopper)
    blank = np.full((300, 400, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match="reference image") as caught:
        pipeline.transfer(astronaut, blank)
    assert caught.value.role == "reference"
    small = cv2.resize(astronaut, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceTooSmallError, match="source image"):
        pipeline.transfer(small, grace_hopper)


def test_largest_face_by_default_and_every_face_on_request(pipeline, astronaut, grace_hopper):
    canvas = np.full((700, 1100, 3), 200, dtype=np.uint8)
    canvas[50:650, 500:1012] = grace_hopper
    canvas[150:662, :480] = astronaut[:, :480]
    largest = pipeline.transfer(canvas, astronaut)
    assert len(largest.source_faces) == 1 and largest.source_face.box[0] > 500
    assert changed_pixels(canvas, largest.image)[:, 1].min() > 480
    every = pipeline.transfer(canvas, astronaut, all_faces=True)
    assert len(every.source_faces) == len(every.outputs) == 2
    changed = changed_pixels(canvas, every.image)
    assert changed[:, 1].min() < 480 < 500 < changed[:, 1].max()


def test_bad_model_choices(pipeline, astronaut, grace_hopper, detector):
    with pytest.raises(ValueError, match="discriminator"):
        pipeline.transfer(astronaut, grace_hopper, model="patchgan")
    with pytest.raises(LookupError, match="unknown model"):
        pipeline.transfer(astronaut, grace_hopper, model="no-such-model")
    with pytest.raises(ValueError, match="divisible by 4"):
        MakeupPipeline(models=[], crop_size=130, detector=detector)
    empty = MakeupPipeline(models=[], device="cpu", detector=detector)
    with pytest.raises(UntrainedModelError, match="no model is loaded"):
        empty.transfer(astronaut, grace_hopper)


def test_classical_baseline_runs_inside_the_pipeline(detector, astronaut, grace_hopper):
    pytest.importorskip("mediapipe")
    pipeline = MakeupPipeline(models=["classical"], device="cpu", crop_size=256, detector=detector)
    result = pipeline.transfer(astronaut, grace_hopper)
    assert result.trained is True and result.model == "classical"
    assert changed_pixels(astronaut, result.image).size > 0


def test_benchmark_photos_have_the_asked_size_and_a_findable_face(detector, astronaut):
    from makeup.bench.pipeline import synthetic_photo

    photo = synthetic_photo(2, astronaut)
    height, width = photo.shape[:2]
    assert abs(height * width / 1e6 - 2) < 0.01 and abs(width / height - 4 / 3) < 0.01
    face = detector.largest_face(photo)
    assert face is not None and face.size > 150


def test_benchmark_picks_the_student_with_the_fewest_macs():
    from makeup.bench.pipeline import TEACHER, smallest_student
    from makeup.models import get_card, list_models

    name = smallest_student()
    students = [get_card(other) for other in list_models("generator") if other != TEACHER]
    assert name != TEACHER and get_card(name).gmacs == min(card.gmacs for card in students)


def test_partial_makeup_changes_only_the_chosen_parts(detector, astronaut, grace_hopper):
    pytest.importorskip("mediapipe")
    from makeup.partial import region_weight

    pipeline = MakeupPipeline(models=["classical"], device="cpu", crop_size=256, detector=detector)
    source, reference = pipeline.prepare(astronaut, "source"), pipeline.prepare(grace_hopper, "reference")
    full = pipeline.transfer(source, reference, model="classical")
    lips = pipeline.transfer(source, reference, model="classical", regions=["lips"])
    assert lips.regions == ("lips",) and full.regions is None
    weight = region_weight(source.crop_masks(), ["lips"])
    crop, changed = source.crop.astype(int), np.abs(lips.made_up_crop.astype(int) - source.crop).max(axis=2)
    # outside the feathered lips nothing moves; inside, the lips take the full transfer's colour
    assert changed[weight == 0].max() == 0
    inside = weight > 0.99
    assert inside.sum() > 200
    assert np.array_equal(lips.made_up_crop[inside], full.made_up_crop[inside])
    assert np.abs(full.made_up_crop.astype(int) - crop).max(axis=2)[weight == 0].max() > 10  # the rest did change
    # all three parts are the whole look; none is refused
    assert pipeline.transfer(source, reference, model="classical", regions=["skin", "lips", "eyes"]).regions is None
    with pytest.raises(ValueError, match="no face part"):
        pipeline.transfer(source, reference, model="classical", regions=[])
    with pytest.raises(ValueError, match="unknown face part"):
        pipeline.transfer(source, reference, model="classical", regions=["hair"])


def say_in_summary(network, *, warp_reference: bool, example_lips: bool) -> None:
    """Rewrite what a loaded network's weights file says about its inputs and finishing, whatever the shipped file says."""
    summary = dict(network.training_summary or {})
    network.training_summary = {**summary, "config": {**summary.get("config", {}), "warp_reference": warp_reference},
                                "inference": {**summary.get("inference", {}), "example_lips": example_lips}}


def test_a_model_trained_on_warped_references_gets_the_reference_warped_onto_each_source(detector, astronaut,
                                                                                         grace_hopper):
    pytest.importorskip("mediapipe")
    from makeup.models.tensors import image_to_tensor, tensor_to_image
    from makeup.classical.correspondence import warp_to

    pipeline = MakeupPipeline(models=[OTHER_MODEL], device="cpu", crop_size=256, detector=detector)
    network = pipeline.model(OTHER_MODEL)
    source, reference = pipeline.prepare(astronaut, "source"), pipeline.prepare(grace_hopper, "reference")
    # what a weights file says in its training config when trained with or without `warp_reference`
    say_in_summary(network, warp_reference=False, example_lips=False)
    plain = pipeline.transfer(source, reference, OTHER_MODEL).output
    say_in_summary(network, warp_reference=True, example_lips=False)
    warped = pipeline.transfer(source, reference, OTHER_MODEL).output
    on_source = warp_to(reference.crop, reference.crop_landmarks(), source.crop_landmarks())
    with torch.inference_mode():
        expected = tensor_to_image(network(image_to_tensor(source.crop), image_to_tensor(on_source))[0])
    assert np.array_equal(warped, expected)
    assert not np.array_equal(warped, plain)


def test_weights_that_ask_for_example_lips_get_them_over_the_network_output(detector, astronaut, grace_hopper):
    pytest.importorskip("mediapipe")
    from makeup.classical.example_lips import with_example_lips
    from makeup.regions import masks_from_landmarks

    pipeline = MakeupPipeline(models=[OTHER_MODEL], device="cpu", crop_size=256, detector=detector)
    network = pipeline.model(OTHER_MODEL)
    source, reference = pipeline.prepare(astronaut, "source"), pipeline.prepare(grace_hopper, "reference")
    # what a weights file exported with or without `makeup export --example-lips` says in its training summary
    say_in_summary(network, warp_reference=False, example_lips=False)
    plain = pipeline.transfer(source, reference, OTHER_MODEL).outputs[0]
    say_in_summary(network, warp_reference=False, example_lips=True)
    with_lips = pipeline.transfer(source, reference, OTHER_MODEL).outputs[0]
    source_points, reference_points = source.crop_landmarks(), reference.crop_landmarks()
    expected = with_example_lips(plain, source.crop, reference.crop, masks_from_landmarks(source_points, (256, 256)),
                                 masks_from_landmarks(reference_points, (256, 256)), source_points, reference_points)
    assert np.array_equal(with_lips, expected) and not np.array_equal(with_lips, plain)


class CountingFaceMesh:
    """The real FaceMesh (makeup.regions.detect_landmarks), counting its calls."""

    def __init__(self, monkeypatch):
        import makeup.regions

        self.calls = 0
        real = makeup.regions.detect_landmarks

        def counted(image):
            self.calls += 1
            return real(image)

        monkeypatch.setattr(makeup.regions, "detect_landmarks", counted)


def test_the_pair_stage_runs_once_per_comparison_and_a_known_reference_comes_from_the_cache(
        detector, astronaut, grace_hopper, tmp_path, monkeypatch):
    pytest.importorskip("mediapipe")
    facemesh = CountingFaceMesh(monkeypatch)
    # the shipped teacher warps its references and lays the example lips over its output; the classical methods
    # take both crops' landmarks and masks: all of it from one pair stage
    names = ["beautygan", "example", "classical", OTHER_MODEL]
    pipeline = MakeupPipeline(models=names, device="cpu", detector=detector, allow_untrained=True)
    reference_file = save_image(grace_hopper, tmp_path / "look.png")
    calls = detector.calls
    results = pipeline.transfer_all(astronaut, reference_file, names)
    assert facemesh.calls == 2 and detector.calls == calls + 2  # one FaceMesh per crop, one detection per photo
    pair_ms = {result.timings["pair"] for result in results.values()}
    assert len(pair_ms) == 1 and pair_ms.pop() > 0  # one stage, the same figure in every result
    # the same reference again, as another file with the same bytes: neither detected nor FaceMesh'd again
    copy = tmp_path / "again.png"
    copy.write_bytes(reference_file.read_bytes())
    again = pipeline.transfer_all(astronaut, copy, names)
    assert facemesh.calls == 3 and detector.calls == calls + 3 and pipeline.references.hits == 1
    for name in names:
        assert np.array_equal(again[name].image, results[name].image)
    # a different reference is a miss
    pipeline.transfer_all(astronaut, np.ascontiguousarray(grace_hopper[:, ::-1]), ["beautygan"])
    assert facemesh.calls == 5 and pipeline.references.misses == 2


def test_the_app_order_of_one_model_at_a_time_matches_a_comparison(detector, astronaut, grace_hopper):
    pytest.importorskip("mediapipe")
    pipeline = MakeupPipeline(models=["beautygan", "classical"], device="cpu", detector=detector)
    together = pipeline.transfer_all(astronaut, grace_hopper, ["beautygan", "classical"], intensity=0.7)
    source, reference = pipeline.prepare(astronaut, "source"), pipeline.prepare(grace_hopper, "reference")
    pair = pipeline.prepare_pair(source, reference, ["beautygan", "classical"])
    for name in ("beautygan", "classical"):
        alone = pipeline.transfer_pair(pair, name, intensity=0.7)
        assert np.array_equal(alone.image, together[name].image)
        assert alone.timings["pair"] == 0.0 and alone.timings["model"] > 0
