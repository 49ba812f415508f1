"""Dense correspondence and the example-based transfer on real public-domain faces, and the pseudo targets that
real training pairs get from it."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from makeup.synth import preset, render
from makeup.classical.correspondence import Correspondence, control_points, warp_maps, warp_to
from makeup.classical.example import (
    DEFAULT_CONFIG,
    ExampleTransferConfig,
    _ramp,
    example_transfer,
    example_transfer_from_landmarks,
    lid_mask,
    reference_makeup,
)

SIZE = 256


def test_example_lips_on_the_mouth_box_equal_the_whole_crop_transfer(faces):
    """The pair stage computes the example lips on the box around the source's lips only; the result is the
    lips-only example transfer of the whole crop, feathered over the output, within a grey level."""
    from makeup.classical.example_lips import FEATHER_AT_256, LIPS_ONLY, lips_layer, reference_lips, with_example_lips

    for (source, source_points, source_masks), (bare, reference_points, reference_masks) in (faces, faces[::-1]):
        for reference in (bare, render(bare, reference_masks, preset("classic-red"))):
            output = render(source, source_masks, preset("smoky-eye"))  # a network's output, eye makeup and all
            whole = example_transfer(source, reference, source_masks, reference_masks, source_points,
                                     reference_points, LIPS_ONLY)
            weight = cv2.GaussianBlur(source_masks["lips"].astype(np.float32), (0, 0), FEATHER_AT_256)[..., None]
            expected = np.clip(np.rint(output * (1.0 - weight) + whole * weight), 0, 255)
            boxed = with_example_lips(output, source, reference, source_masks, reference_masks, source_points,
                                      reference_points)
            assert np.abs(boxed.astype(int) - expected.astype(int)).max() <= 1
            assert not np.array_equal(boxed, output)
            layer = lips_layer(source, source_masks, reference_lips(reference, reference_masks),
                               Correspondence(reference_points, source_points, source.shape[:2]))
            y0, y1, x0, x1 = layer.box
            assert (y1 - y0) * (x1 - x0) < 0.15 * source.shape[0] * source.shape[1]


@pytest.fixture(scope="module")
def detector():
    from makeup.face import FaceDetector

    return FaceDetector(device="cpu")


@pytest.fixture(scope="module")
def faces(astronaut, grace_hopper):
    """Aligned 256 px crops of the two portraits with their FaceMesh landmarks and region masks."""
    pytest.importorskip("mediapipe", reason="FaceMesh landmarks need mediapipe 0.10.21 (the train extra)")
    from makeup.face import align_face, detect_faces
    from makeup.regions import detect_landmarks, masks_from_landmarks

    found = []
    for photo in (astronaut, grace_hopper):
        crop = align_face(photo, detect_faces(photo)[0].landmarks, size=SIZE).crop
        points = detect_landmarks(crop)
        found.append((crop, points, masks_from_landmarks(points, crop.shape[:2])))
    return found


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def test_a_face_warped_onto_itself_is_unchanged(faces):
    crop, points, _ = faces[0]
    same = warp_to(crop, points, points)
    difference = np.abs(same.astype(int) - crop.astype(int))
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 2  # interpolation error only


def test_a_warped_grid_lands_on_the_target_landmarks(faces):
    (_, from_points, _), (_, to_points, _) = faces
    map_x, map_y = warp_maps(control_points(from_points, (SIZE, SIZE)), control_points(to_points, (SIZE, SIZE)),
                             (SIZE, SIZE))
    # a "grid" image whose pixels hold their own coordinates, warped: each target landmark reads its source twin
    for index in (1, 33, 61, 133, 152, 263, 291, 362):
        x, y = to_points[index]
        sampled = cv2.remap(np.dstack([*np.meshgrid(np.arange(SIZE), np.arange(SIZE))]).astype(np.float32),
                            map_x, map_y, cv2.INTER_LINEAR)[int(round(y)), int(round(x))]
        assert np.linalg.norm(sampled - from_points[index]) < 1.5, index
    assert np.allclose(warp_to(np.eye(4), None, to_points), np.eye(4))  # no landmarks: similarity alignment only
    with pytest.raises(ValueError, match="crop's size"):
        Correspondence(from_points, to_points, (SIZE, SIZE)).warp(np.zeros((10, 10)))


def test_eyes_and_mouth_opening_are_never_copied(faces):
    (source, source_points, source_masks), (reference, reference_points, reference_masks) = faces
    garish = reference.copy()
    openings = np.maximum.reduce([reference_masks[n] for n in ("eye_left", "eye_right", "mouth")]) > 0.5
    garish[openings] = (0, 255, 0)  # irises and teeth nobody could miss
    out = example_transfer(source, garish, source_masks, reference_masks, source_points, reference_points)
    own = np.maximum.reduce([source_masks[n] for n in ("eye_left", "eye_right", "mouth")]) > 0.5
    assert np.array_equal(out[own], source[own])  # the source keeps its own eyes and mouth opening, exactly
    green = (out[..., 1].astype(int) - np.maximum(out[..., 0], out[..., 2]) > 120)
    assert not green.any()  # and nothing of the reference's openings lands anywhere else


def test_the_example_transfer_on_a_synthetic_triplet_is_closer_to_the_truth_than_the_source(faces):
    from makeup.evaluate.metrics import psnr, region_ciede2000

    (source, source_points, source_masks), (bare, reference_points, reference_masks) = faces
    style = preset("berry-bold")
    reference, truth = render(bare, reference_masks, style), render(source, source_masks, style)
    out = example_transfer(source, reference, source_masks, reference_masks, source_points, reference_points)
    face = source_masks["face"]
    assert psnr(out, truth, face) > psnr(source, truth, face) + 1.0
    lips = source_masks["lips"]
    assert region_ciede2000(out, truth, lips) < 0.6 * region_ciede2000(source, truth, lips)
    # hair and background are left exactly as they were
    outside = source_masks["face"] < 0.5
    assert np.array_equal(out[outside], source[outside])


def test_example_lips_over_a_network_output_change_the_lips_alone_and_carry_the_lipstick(faces):
    from makeup.evaluate.metrics import region_ciede2000
    from makeup.classical.example_lips import with_example_lips

    (source, source_points, source_masks), (bare, reference_points, reference_masks) = faces
    style = preset("berry-bold")
    reference, truth = render(bare, reference_masks, style), render(source, source_masks, style)
    # a network that carried nothing: its output is the source
    out = with_example_lips(source.copy(), source, reference, source_masks, reference_masks, source_points,
                            reference_points)
    lips = source_masks["lips"]
    full = example_transfer(source, reference, source_masks, reference_masks, source_points, reference_points)
    assert region_ciede2000(out, truth, lips) < 0.6 * region_ciede2000(source, truth, lips)
    # inside the lips, the example transfer's own lips (its other zones switched off change nothing there)
    core = cv2.erode((lips > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    assert core.sum() > 50 and region_ciede2000(out, full, core) < 1.0
    near_lips = cv2.dilate((lips > 0.01).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.array_equal(out[~near_lips], source[~near_lips])
    assert not np.array_equal(out[near_lips], source[near_lips])


def test_bare_looking_lips_move_part_way_and_lipstick_all_the_way(faces):
    from makeup.evaluate.metrics import region_ciede2000

    (source, source_points, source_masks), (bare, reference_points, reference_masks) = faces
    lips = source_masks["lips"]
    # an eyes-only look leaves the reference's lips bare: without the bare-lips share the source keeps its own lip
    # colour, with it (a nude lipstick reads as bare lips) the lips move part of the way toward the reference's
    eyes_only = render(bare, reference_masks, replace(preset("smoky-eye"), lip_opacity=0.0, lip_gloss=0.0))
    moved_by = {}
    for share in (0.0, DEFAULT_CONFIG.bare_lips, 1.0):
        config = replace(DEFAULT_CONFIG, bare_lips=share)
        out = example_transfer(source, eyes_only, source_masks, reference_masks, source_points, reference_points,
                               config)
        moved_by[share] = region_ciede2000(out, source, lips)
    assert moved_by[0.0] < 1.0
    assert 0.3 * moved_by[1.0] < moved_by[DEFAULT_CONFIG.bare_lips] < 0.8 * moved_by[1.0]
    # red lipstick on the same reference is carried over
    red = render(bare, reference_masks, preset("classic-red"))
    moved = example_transfer(source, red, source_masks, reference_masks, source_points, reference_points)
    assert region_ciede2000(moved, source, lips) > 8.0
    assert region_ciede2000(moved, source, lips) > 2.0 * moved_by[DEFAULT_CONFIG.bare_lips]


def test_a_darker_reference_darkens_the_lips_less_than_its_own(faces):
    # Lipstick lets the wearer's lightness through: the same lipstick on a darker-skinned reference looks darker,
    # but the source's skin did not change, so its lips darken only part of the way.
    (source, source_points, source_masks), (bare, reference_points, reference_masks) = faces
    red = render(bare, reference_masks, preset("classic-red"))
    darker = np.clip(red.astype(int) * 0.8, 0, 255).astype(np.uint8)
    own_lips, lips = reference_masks["lips"] > 0.5, source_masks["lips"] > 0.5
    reference_change = _lab(darker)[own_lips][:, 0].mean() - _lab(red)[own_lips][:, 0].mean()
    changes = {}
    for share in (0.0, 0.3):
        config = ExampleTransferConfig(lip_complexion=share)
        outputs = [example_transfer(source, reference, source_masks, reference_masks, source_points,
                                    reference_points, config) for reference in (red, darker)]
        changes[share] = _lab(outputs[1])[lips][:, 0].mean() - _lab(outputs[0])[lips][:, 0].mean()
    assert reference_change < -5.0
    assert 0.75 * reference_change > changes[0.0] > 1.1 * reference_change  # copied (feathered edges aside)
    assert 0.4 * changes[0.0] > changes[0.3] > 0.9 * changes[0.0]  # a darker wearer, not a darker lipstick


def test_lids_move_only_as_far_as_the_reference_wears_eye_makeup(faces):
    from makeup.evaluate.metrics import region_ciede2000

    (source, source_points, source_masks), (bare, reference_points, reference_masks) = faces
    boxes = lid_mask(source_masks).astype(np.float32)
    no_foundation = ExampleTransferConfig(foundation=0.0)  # the lids' skin would otherwise take the skin's nudge
    # a lips-only look leaves the reference's lids bare: what its sockets differ by is not handed on
    lips_only = render(bare, reference_masks, replace(preset("classic-red"), shadow_opacity=0.0, liner_opacity=0.0))
    kept = example_transfer(source, lips_only, source_masks, reference_masks, source_points, reference_points,
                            no_foundation)
    assert region_ciede2000(kept, source, boxes) < 1.0
    # a smoky eye on the same reference is carried over
    smoky = render(bare, reference_masks, preset("smoky-eye"))
    moved = example_transfer(source, smoky, source_masks, reference_masks, source_points, reference_points,
                             no_foundation)
    assert region_ciede2000(moved, source, boxes) > 3.0


def _fit(image, masks):
    from makeup.regions import face_geometry
    from makeup.classical.example import _NATURAL_EYE_OFFSET, _base_layer, _local_skin_tone
    from makeup.classical.eye_fit import fit_eye_makeup

    unit = max(face_geometry(masks).eye_distance, 8.0)
    skin = _local_skin_tone(_base_layer(_lab(image), unit, ExampleTransferConfig()), masks, unit)
    return fit_eye_makeup(image, masks, _NATURAL_EYE_OFFSET, skin)


def test_the_eye_fit_recovers_a_rendered_eye_look_and_finds_little_on_bare_lids(faces):
    from makeup.evaluate.metrics import region_ciede2000

    (astronaut, _, masks), (grace, _, grace_masks) = faces
    defaults = ExampleTransferConfig()
    for face, face_masks in ((astronaut, masks), (grace, grace_masks)):
        assert _fit(face, face_masks).gain < defaults.fit_gain_low  # bare lids: nothing would be painted
    lids = lid_mask(masks).astype(np.float32)
    for name in ("smoky-eye", "pink-glam"):
        look = replace(preset(name), lip_opacity=0.0, lip_gloss=0.0, blush_opacity=0.0, foundation_opacity=0.0,
                       foundation_smoothing=0.0)
        worn = render(astronaut, masks, look)
        fitted = _fit(worn, masks)
        # sure enough to be painted (nearly) all the way: the gain sits near the top of the ramp, which moves by a
        # few hundredths when the crop moves by a pixel
        assert _ramp(fitted.gain, (defaults.fit_gain_low, defaults.fit_gain_high)) > 0.9, name
        # the fit painted on the same bare face comes much closer to the look than the bare lids are (not all the
        # way: the fit's grid has no lower-lid smudge and a single gradient, and bare lids are an estimate)
        repainted = render(astronaut, masks, fitted.style)
        assert region_ciede2000(repainted, worn, lids) < 0.5 * region_ciede2000(astronaut, worn, lids), name


def test_the_reference_makeup_gate_sees_lipstick_and_eye_shadow_where_they_are(faces):
    _, (bare, _, masks) = faces
    plain = reference_makeup(bare, masks)
    lips_only = reference_makeup(render(bare, masks, replace(preset("classic-red"), shadow_opacity=0.0,
                                                             liner_opacity=0.0)), masks)
    eyes_only = reference_makeup(render(bare, masks, replace(preset("smoky-eye"), lip_opacity=0.0,
                                                             lip_gloss=0.0)), masks)
    assert plain.shape == (4,) and plain[1] == 1.0 and plain[2] == plain[3]  # skin always; one figure for both lids
    assert plain[0] < 0.5 and plain[2] < 0.5  # a bare face
    assert lips_only[0] > 0.9 and lips_only[2] < 0.5  # the lids still read as bare
    assert eyes_only[2] > 0.9 and eyes_only[0] < 0.5


def test_skin_keeps_its_lightness_and_moves_only_part_of_the_way(faces):
    (source, source_points, source_masks), (reference, reference_points, reference_masks) = faces
    darker = np.clip(reference.astype(int) * 0.7, 0, 255).astype(np.uint8)  # a much darker reference skin
    plain = ExampleTransferConfig(eyes=0.0, lips=0.0, cheeks=0.0)
    out = example_transfer(source, darker, source_masks, reference_masks, source_points, reference_points, plain)
    skin = (source_masks["skin"] > 0.5) & (source_masks["cheek_left"] + source_masks["cheek_right"] < 0.5)
    source_lab, out_lab, reference_lab = _lab(source)[skin], _lab(out)[skin], _lab(darker)[reference_masks["skin"] > 0.5]
    assert np.abs(out_lab[:, 0] - source_lab[:, 0]).max() < 1.0  # lightness: the source's own
    moved = np.median(out_lab[:, 1:], axis=0) - np.median(source_lab[:, 1:], axis=0)
    wanted = np.median(reference_lab[:, 1:], axis=0) - np.median(source_lab[:, 1:], axis=0)
    assert np.all(np.abs(moved) <= np.abs(wanted) * 0.4 + 0.5)  # foundation: a quarter of the way by default


def test_the_transfer_is_deterministic_and_works_from_landmarks_alone(faces):
    (source, source_points, source_masks), (reference, reference_points, reference_masks) = faces
    first = example_transfer_from_landmarks(source, reference, source_points, reference_points)
    second = example_transfer_from_landmarks(source, reference, source_points, reference_points)
    assert np.array_equal(first, second) and first.shape == source.shape and first.dtype == np.uint8
    # masks without landmarks (an MT-format cache): the crops' similarity alignment stands in for the mesh warp
    aligned_only = example_transfer(source, reference, source_masks, reference_masks, None, None)
    lips = source_masks["lips"] > 0.5
    assert not np.array_equal(aligned_only[lips], source[lips])
    with pytest.raises(ValueError, match="uint8"):
        example_transfer_from_landmarks(source.astype(np.float32), reference, source_points, reference_points)


def test_the_example_method_is_registered_and_runs_in_the_pipeline(detector, astronaut, grace_hopper):
    from makeup.models import create_model, get_card, list_models
    from makeup.transfer import MakeupPipeline

    assert "example" in list_models("classical") and get_card("example").params == 0
    model = create_model("example", foundation=0.0)
    assert model.config.foundation == 0.0
    pipeline = MakeupPipeline(models=["example"], device="cpu", crop_size=SIZE, detector=detector)
    result = pipeline.transfer(astronaut, grace_hopper)
    assert result.trained and result.image.shape == astronaut.shape
    assert not np.array_equal(result.outputs[0], result.source_crops[0])


@pytest.fixture(scope="module")
def real_pair_cache(tmp_path_factory, faces):
    """A 128 px cache: both portraits and their mirror images bare, and each wearing a preset as a real makeup
    reference (every face its own identity, all in the train split of the fractions used below)."""
    from makeup.data.cache import FaceRecord, pack_masks, write_cache
    from makeup.regions import masks_from_landmarks

    images, masks, landmarks, records = [], [], [], []
    for number, (crop, points, _) in enumerate(faces):
        small = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)
        small_points = points * 0.5
        mirrored_points = small_points.copy()
        mirrored_points[:, 0] = 127.0 - mirrored_points[:, 0]
        variants = [(small, small_points, "non-makeup"), (np.ascontiguousarray(small[:, ::-1]), mirrored_points, "face")]
        region_masks = masks_from_landmarks(small_points, (128, 128))
        look = preset("smoky-eye" if number else "classic-red")
        variants.append((render(small, region_masks, look), small_points, "makeup"))
        for image, image_points, kind in variants:
            images.append(image)
            masks.append(pack_masks(masks_from_landmarks(image_points, (128, 128))))
            landmarks.append(image_points)
            records.append(FaceRecord(id=f"face-{len(records)}", image=f"{len(records)}.png", kind=kind,
                                      identity=f"person-{len(records)}"))
    root = tmp_path_factory.mktemp("real-pairs")
    write_cache(root, np.stack(images), np.stack(masks), np.stack(landmarks), records)
    return root


def test_pseudo_targets_are_the_example_transfer_and_deterministic_per_pair_and_epoch(real_pair_cache):
    import torch

    from makeup.data import FaceAugment, FaceCache, RealPairs
    from makeup.models.tensors import tensor_to_image

    cache = FaceCache(real_pair_cache)
    plain = RealPairs(cache, "train", length=6, fractions=(1.0, 0.0, 0.0), augment=FaceAugment.none(),
                      pseudo_targets=True)
    item = plain[(0, 2)]
    assert item["kind"] == "real" and bool(item["has_target"])
    source, reference, target = (tensor_to_image(item[key]) for key in ("source", "reference", "target"))
    a = next(i for i in plain.sources if np.array_equal(cache.image(i), source))
    b = next(i for i in plain.references if np.array_equal(cache.image(i), reference))
    expected = example_transfer(cache.image(a), cache.image(b), cache.masks(a), cache.masks(b), cache.landmarks(a),
                                cache.landmarks(b))
    assert np.abs(target.astype(int) - expected).max() <= 1  # the [-1, 1] round trip of the tensor only
    assert np.allclose(item["reference_makeup"].numpy(), reference_makeup(cache.image(b), cache.masks(b)))
    assert not np.array_equal(target, source)

    jittered = RealPairs(cache, "train", length=6, fractions=(1.0, 0.0, 0.0), pseudo_targets=True)
    first, again = jittered[(3, 1)], jittered[(3, 1)]
    assert all(torch.equal(first[key], again[key]) for key in ("source", "reference", "target"))
    assert not torch.equal(first["source"], jittered[(4, 1)]["source"])  # another epoch, another jitter
    # source and target are jittered together: away from the makeup they still agree pixel for pixel
    agree = (first["source"] - first["target"]).abs().amax(dim=0) < 1e-6
    assert agree.float().mean() > 0.5


def test_recoloured_lips_change_the_lips_alone_and_the_pseudo_target_follows(faces, real_pair_cache):
    from makeup.data import FaceAugment, FaceCache, RealPairs
    from makeup.data.augment import recolour_lips
    from makeup.evaluate.metrics import region_ciede2000
    from makeup.models.tensors import tensor_to_image

    face, _, masks = faces[1]
    shades = [recolour_lips(face, masks, np.random.default_rng(seed)) for seed in (0, 0, 1)]
    assert np.array_equal(shades[0], shades[1])  # deterministic in the generator
    lips = masks["lips"]
    assert region_ciede2000(shades[0], face, lips) > 3.0 and region_ciede2000(shades[2], shades[0], lips) > 3.0
    near = cv2.dilate((lips > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    away = ~near | (masks["mouth"] > 0.5)  # the rest of the face and the teeth are untouched
    assert all(np.array_equal(shade[away], face[away]) for shade in shades)

    cache = FaceCache(real_pair_cache)
    options = dict(length=6, fractions=(1.0, 0.0, 0.0), augment=FaceAugment.none(), pseudo_targets=True)
    plain, recoloured = RealPairs(cache, "train", **options), RealPairs(cache, "train", lip_recolour=1.0, **options)
    for key in ((0, 0), (0, 1), (1, 2)):
        before, after = plain[key], recoloured[key]
        images = {name: [tensor_to_image(item[name]) for item in (before, after)] for name in ("source", "reference",
                                                                                                   "target")}
        a = next(i for i in plain.sources if np.array_equal(cache.image(i), images["source"][0]))
        b = next(i for i in plain.references if np.array_equal(cache.image(i), images["reference"][0]))
        assert np.array_equal(images["source"][1], images["source"][0])  # the same pair, drawn alike
        assert region_ciede2000(images["reference"][1], images["reference"][0], cache.masks(b)["lips"]) > 1.0
        expected = example_transfer(cache.image(a), images["reference"][1], cache.masks(a), cache.masks(b),
                                    cache.landmarks(a), cache.landmarks(b))
        assert np.abs(images["target"][1].astype(int) - expected).max() <= 1  # computed from the new shade
        assert np.allclose(after["reference_makeup"].numpy(), reference_makeup(images["reference"][1],
                                                                               cache.masks(b)))


def test_a_transplanted_reference_is_another_bare_face_wearing_the_makeup_and_the_target_follows(real_pair_cache):
    from makeup.data import FaceAugment, FaceCache, RealPairs
    from makeup.evaluate.metrics import region_ciede2000
    from makeup.models.tensors import tensor_to_image

    cache = FaceCache(real_pair_cache)
    options = dict(length=6, fractions=(1.0, 0.0, 0.0), augment=FaceAugment.none(), pseudo_targets=True)
    plain = RealPairs(cache, "train", **options)
    transplanted = RealPairs(cache, "train", makeup_transplant=1.0, **options)
    for key in ((0, 0), (0, 1), (1, 2)):
        before, after = plain[key], transplanted[key]
        source, reference, target = (tensor_to_image(after[name]) for name in ("source", "reference", "target"))
        assert np.array_equal(source, tensor_to_image(before["source"]))  # the same pair, drawn alike
        a = next(i for i in plain.sources if np.array_equal(cache.image(i), source))
        b = next(i for i in plain.references if np.array_equal(cache.image(i), tensor_to_image(before["reference"])))
        worn = {c: example_transfer(cache.image(c), cache.image(b), cache.masks(c), cache.masks(b),
                                    cache.landmarks(c), cache.landmarks(b)) for c in plain.sources if c != a}
        carrier = next(c for c, image in worn.items() if np.abs(image.astype(int) - reference).max() <= 1)
        # the bare carrier now wears the reference's makeup (classic red lips or smoky eyes)
        regions = cache.masks(carrier)
        makeup = np.maximum.reduce([regions[name] for name in ("lips", "eyeshadow_left", "eyeshadow_right")])
        assert region_ciede2000(reference, cache.image(carrier), makeup) > 2.0
        expected = example_transfer(cache.image(a), reference, cache.masks(a), cache.masks(carrier),
                                    cache.landmarks(a), cache.landmarks(carrier))
        assert np.abs(target.astype(int) - expected).max() <= 1  # the target follows the new reference
        assert np.allclose(after["reference_makeup"].numpy(), reference_makeup(reference, cache.masks(carrier)))
        assert not np.array_equal(reference, tensor_to_image(before["reference"]))


# The fixture's mirrored faces keep their landmarks' order, so a warp from an unmirrored face onto one of them is a
# mirror that folds where face points meet the fixed crop-border points; FaceMesh landmarks of real photos do not.
MIRRORED = "face"


def _source_draw(dataset, index: int) -> int:
    """The position in `dataset.sources` of the source drawn for item `index` (its generator's first draw)."""
    return int(dataset._rng(index).integers(len(dataset.sources)))


def _overlap(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two binary masks."""
    first, second = first > 0.5, second > 0.5
    return float((first & second).sum() / max((first | second).sum(), 1))


def test_a_warped_reference_lies_on_its_source_and_follows_the_source_jitter(real_pair_cache):
    from makeup.data import FaceAugment, FaceCache, RealPairs, SyntheticTriplets
    from makeup.models.tensors import tensor_to_image

    cache = FaceCache(real_pair_cache)
    options = dict(length=8, fractions=(1.0, 0.0, 0.0))
    plain = RealPairs(cache, "train", augment=FaceAugment.none(), pseudo_targets=True, **options)
    warped = RealPairs(cache, "train", augment=FaceAugment.none(), pseudo_targets=True, warp_reference=True,
                       **options)
    moved = 0
    for index in range(8):
        before, after = plain[index], warped[index]
        source = tensor_to_image(after["source"])
        assert np.array_equal(source, tensor_to_image(before["source"]))
        a = next(i for i in plain.sources if np.array_equal(cache.image(i), source))
        b = next(i for i in plain.references if np.array_equal(cache.image(i), tensor_to_image(before["reference"])))
        if cache.records[a].kind == MIRRORED:
            continue
        expected = warp_to(cache.image(b), cache.landmarks(b), cache.landmarks(a))
        assert np.abs(tensor_to_image(after["reference"]).astype(int) - expected).max() <= 1
        assert np.array_equal(after["target"].numpy(), before["target"].numpy())  # the target does not change
        lips_before = _overlap(before["reference_masks"][0].numpy(), before["source_masks"][0].numpy())
        lips_after = _overlap(after["reference_masks"][0].numpy(), after["source_masks"][0].numpy())
        assert lips_after > 0.6  # the reference's lips now lie on the source's (thin masks at 128 px)
        moved += lips_after > lips_before + 0.1
    assert moved > 0  # some pairs put the lips elsewhere before the warp
    # a synthetic reference is rendered on its own face first, then warped (the draws of SyntheticTriplets)
    triplets = SyntheticTriplets(cache, "train", augment=FaceAugment.none(), warp_reference=True, **options)
    for index in range(8):
        rng = triplets._rng(index)
        a = triplets.sources[int(rng.integers(len(triplets.sources)))]
        b = a
        while cache.records[b].identity == cache.records[a].identity:
            b = triplets.sources[int(rng.integers(len(triplets.sources)))]
        style = triplets.styles[int(rng.integers(len(triplets.styles)))]
        if MIRRORED in (cache.records[a].kind, cache.records[b].kind):
            continue
        expected = warp_to(render(cache.image(b), cache.masks(b), style), cache.landmarks(b), cache.landmarks(a))
        assert np.abs(tensor_to_image(triplets[index]["reference"]).astype(int) - expected).max() <= 1
    # with the usual jitter (flip, rotation, scale, shift of the source) the warped reference is jittered alike
    jittered = RealPairs(cache, "train", pseudo_targets=True, warp_reference=True, **options)
    for index in range(8):
        if cache.records[jittered.sources[_source_draw(jittered, index)]].kind == MIRRORED:
            continue
        item = jittered[index]
        for region in range(4):  # lips, skin, left and right eye shadow: the same place on both faces
            reference_mask, source_mask = item["reference_masks"][region].numpy(), item["source_masks"][region].numpy()
            assert np.linalg.norm(_centroid(reference_mask) - _centroid(source_mask)) < 2.0


def _centroid(mask: np.ndarray) -> np.ndarray:
    rows, columns = np.nonzero(mask > 0.5)
    return np.array([columns.mean(), rows.mean()])


def test_a_few_training_steps_on_real_pairs_lower_the_pseudo_target_loss(real_pair_cache, tmp_path):
    import torch

    from makeup.train import TrainConfig, train
    from makeup.train.log import LOG_FILE, read_log

    torch.set_num_threads(1)
    config = TrainConfig(
        cache=str(real_pair_cache), out_dir=str(tmp_path / "run"), image_size=64, synthetic_fraction=0.0,
        samples_per_epoch=64, num_workers=0, augment=False, generator_options={"width": 8, "residual_blocks": 1},
        discriminator_options={"width": 8}, batch_size=2, steps=16, lr_generator=2e-3, beta1=0.9,
        adversarial_weight=0.0, cycle_weight=0.0, identity_weight=0.0, perceptual_weight=0.0,
        paired_perceptual_weight=0.0, perceptual_backbone="none", histogram_weights=(0.0, 0.0, 0.0, 0.0),
        paired_distance="l2", pseudo_target_weight=10.0, log_every=1, sample_every=0, checkpoint_every=0,
        progress=False,
    )
    train(config)
    losses = [record["loss/pseudo_l2"] for record in read_log(tmp_path / "run" / LOG_FILE) if "step" in record]
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
