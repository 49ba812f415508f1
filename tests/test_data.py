"""The prepared cache, splits, triplets, datasets (batch contract), augmentation and the MT-format reader."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from makeup.data import (
    CacheError,
    FaceAugment,
    FaceCache,
    FaceRecord,
    MTFaces,
    MTFormatError,
    RealPairs,
    SyntheticTriplets,
    make_triplets,
    render_triplet,
    split_indices,
    split_of,
    style_bank,
    training_pairs,
    write_cache,
)
from makeup.data.cache import decode_images, encode_images, pack_masks
from makeup.data.made_up import MADE_UP_FACES
from makeup.regions import HISTOGRAM_REGIONS, LANDMARK_COUNT, REGIONS
from makeup.synth import PRESETS, render

ALL_TRAIN = (1.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """A 128 px cache of 8 faces (two portraits, mirrored and re-lit copies, each its own identity)."""
    pytest.importorskip("mediapipe", reason="computing masks needs mediapipe 0.10.21 (the train extra)")
    from makeup.face import align_face, detect_faces
    from makeup.regions import detect_landmarks, masks_from_landmarks

    crops = []
    for photo in (astronaut, grace_hopper):
        crop = align_face(photo, detect_faces(photo)[0].landmarks, size=128).crop
        crops += [crop, np.ascontiguousarray(crop[:, ::-1])]
    crops += [np.clip(c.astype(int) * 0.85 + 10, 0, 255).astype(np.uint8) for c in crops]
    images, masks, landmarks, records = [], [], [], []
    for i, crop in enumerate(crops):
        points = detect_landmarks(crop)
        region_masks = masks_from_landmarks(points, (128, 128))
        images.append(crop)
        masks.append(pack_masks(region_masks))
        landmarks.append(points)
        kind = "makeup" if i in (2, 5) else "non-makeup" if i % 2 else "face"
        records.append(FaceRecord(id=f"face-{i}", image=f"face-{i}.png", kind=kind, identity=f"person-{i}"))
    root = tmp_path_factory.mktemp("cache")
    write_cache(root, np.stack(images), np.stack(masks), np.stack(landmarks), records,
                skipped=[{"image": "bad.png", "reason": "no face"}])
    return root


def test_image_coding_is_lossless():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    np.testing.assert_array_equal(decode_images(encode_images(images)), images)


def test_cache_round_trip(small_cache, astronaut):
    cache = FaceCache(small_cache)
    assert len(cache) == 8 and cache.size == 128 and cache.regions == REGIONS
    assert cache.skipped == [{"image": "bad.png", "reason": "no face"}]
    assert cache.image(0).shape == (128, 128, 3) and cache.image(0).dtype == np.uint8
    np.testing.assert_array_equal(cache.image(1), cache.image(0)[:, ::-1])
    masks = cache.masks(0)
    assert list(masks) == list(REGIONS)
    assert all(set(np.unique(m)) <= {0.0, 1.0} for m in masks.values())
    np.testing.assert_array_equal(cache.mask(0, "lips"), masks["lips"])
    stack = cache.histogram_masks(0)
    assert stack.shape == (4, 128, 128)
    for i, name in enumerate(HISTOGRAM_REGIONS):
        np.testing.assert_array_equal(stack[i], masks[name])
    assert cache.landmarks(0).shape == (LANDMARK_COUNT, 2)
    assert cache.indices("makeup") == [2, 5]
    assert cache.records[3].identity == "person-3"
    with pytest.raises(KeyError, match="not in this cache"):
        cache.mask(0, "ears")
    # Compact: well under the raw size of the crops alone.
    stored = (small_cache / "faces.npz").stat().st_size
    assert stored < 8 * 128 * 128 * 3


def test_cache_errors_say_what_to_do(tmp_path, small_cache):
    with pytest.raises(CacheError, match="makeup prepare"):
        FaceCache(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "makeup-face-cache", "version": 99}))
    (tmp_path / "faces.npz").write_bytes((small_cache / "faces.npz").read_bytes())
    with pytest.raises(CacheError, match="prepare the cache again"):
        FaceCache(tmp_path)
    (tmp_path / "meta.json").write_text((small_cache / "meta.json").read_text())
    (tmp_path / "faces.npz").write_bytes(b"not an npz")
    with pytest.raises(CacheError, match="damaged"):
        FaceCache(tmp_path)
    with pytest.raises(CacheError, match="square RGB"):
        write_cache(tmp_path / "x", np.zeros((1, 8, 9, 3), np.uint8), np.zeros((1, len(REGIONS), 8, 1)),
                    np.zeros((1, LANDMARK_COUNT, 2)), [FaceRecord("a", "a", "face", "a")])


def test_identity_splits_are_disjoint_stable_and_proportional():
    identities = [f"person-{i}" for i in range(3000)]
    splits = {name: split_of(name, seed=5) for name in identities}
    assert splits == {name: split_of(name, seed=5) for name in reversed(identities)}  # order does not matter
    counts = {s: sum(v == s for v in splits.values()) for s in ("train", "val", "test")}
    assert abs(counts["train"] / 3000 - 0.8) < 0.03 and abs(counts["test"] / 3000 - 0.1) < 0.02
    assert splits != {name: split_of(name, seed=6) for name in identities}
    assert split_of("x", fractions=(0.0, 0.0, 1.0)) == "test"
    with pytest.raises(ValueError, match="summing to 1"):
        split_of("x", fractions=(0.5, 0.2, 0.2))


def test_split_indices_never_share_an_identity(small_cache):
    cache = FaceCache(small_cache)
    seen = {}
    for split in ("train", "val", "test"):
        for index in split_indices(cache, split, seed=1, fractions=(0.5, 0.25, 0.25)):
            identity = cache.records[index].identity
            assert seen.setdefault(identity, split) == split
    assert len(seen) == len(cache)


def test_style_banks_keep_evaluation_looks_out_of_training():
    train = style_bank("train", 500, seed=0)
    test = style_bank("test", 50, seed=0)
    assert style_bank("train", 500, seed=0) == train
    assert not set(train) & set(test)
    assert not set(PRESETS.values()) & set(train)
    assert list(PRESETS.values()) == test[: len(PRESETS)]
    assert not set(style_bank("val", 50, seed=0)[len(PRESETS):]) & set(test)


def test_style_banks_take_a_mix_of_looks():
    assert style_bank("train", 50, seed=0, look_weights={}) == style_bank("train", 50, seed=0)
    lips_only = style_bank("train", 50, seed=0, look_weights={"lips-only": 1.0})
    assert all(s.shadow_opacity == 0 and s.lip_opacity > 0 for s in lips_only)
    mixed = style_bank("train", 400, seed=0, look_weights={"lips-only": 1.0, "eyes-only": 3.0})
    share_eyes = np.mean([s.lip_opacity == 0 for s in mixed])
    assert 0.65 < share_eyes < 0.85
    with pytest.raises(ValueError, match="unknown looks"):
        style_bank("train", 5, look_weights={"gothic": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        style_bank("train", 5, look_weights={"everyday": 0.0})


def test_triplets_are_deterministic_and_pair_different_people(small_cache):
    cache = FaceCache(small_cache)
    triplets = make_triplets(cache, "train", 12, seed=3, fractions=ALL_TRAIN)
    assert triplets == make_triplets(cache, "train", 12, seed=3, fractions=ALL_TRAIN)
    assert triplets != make_triplets(cache, "train", 12, seed=4, fractions=ALL_TRAIN)
    for t in triplets:
        assert cache.records[t.source].identity != cache.records[t.reference].identity
        assert cache.records[t.source].kind != "makeup" and cache.records[t.reference].kind != "makeup"
    images = render_triplet(cache, triplets[0])
    np.testing.assert_array_equal(images["source"], cache.image(triplets[0].source))
    np.testing.assert_array_equal(images["target"], render(cache.image(triplets[0].source),
                                                           cache.masks(triplets[0].source), triplets[0].style))
    with pytest.raises(ValueError, match="at least two different"):
        make_triplets(cache, "test", 3, fractions=ALL_TRAIN)


def _check_batch(batch: dict, size: int, count: int) -> None:
    for key in ("source", "reference", "target"):
        assert batch[key].shape == (count, 3, size, size) and batch[key].dtype == torch.float32
        assert batch[key].min() >= -1 and batch[key].max() <= 1
    for key in ("source_masks", "reference_masks"):
        assert batch[key].shape == (count, 4, size, size) and batch[key].dtype == torch.float32
        assert set(batch[key].unique().tolist()) <= {0.0, 1.0}
    assert batch["has_target"].shape == (count,) and batch["has_target"].dtype == torch.bool
    assert len(batch["kind"]) == count


def test_synthetic_triplet_batches(small_cache):
    cache = FaceCache(small_cache)
    dataset = SyntheticTriplets(cache, "train", seed=0, length=6, fractions=ALL_TRAIN)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    _check_batch(batch, 128, 3)
    assert batch["has_target"].all() and batch["kind"] == ["synthetic"] * 3
    assert not torch.equal(batch["target"], batch["source"])
    # The target differs from the source where makeup goes, not in the background.
    lips = batch["source_masks"][:, 0:1].expand(-1, 3, -1, -1) > 0
    difference = (batch["target"] - batch["source"]).abs()
    assert difference[lips].mean() > 5 * difference[:, :, :8, :8].mean() + 1e-3
    first = dataset[4]
    assert torch.equal(first["target"], dataset[4]["target"])
    dataset.set_epoch(1)
    assert not torch.equal(first["target"], dataset[4]["target"])


def test_synthetic_targets_are_exact_without_augmentation(small_cache):
    cache = FaceCache(small_cache)
    dataset = SyntheticTriplets(cache, "train", seed=2, length=3, styles=6, augment=FaceAugment.none(),
                                fractions=ALL_TRAIN)
    item = dataset[1]
    from makeup.models.tensors import tensor_to_image

    source = tensor_to_image(item["source"])
    index = next(i for i in range(len(cache)) if np.array_equal(cache.image(i), source))
    reference_masks = item["reference_masks"].numpy()
    rendered = [render(source, cache.masks(index), style) for style in dataset.styles]
    assert any(np.array_equal(r, tensor_to_image(item["target"])) for r in rendered)
    assert any(np.array_equal(cache.histogram_masks(i), reference_masks) for i in range(len(cache)))


def test_real_pairs_and_the_training_mix(small_cache):
    cache = FaceCache(small_cache)
    real = RealPairs(cache, "train", length=4, fractions=ALL_TRAIN)
    item = real[0]
    assert item["kind"] == "real" and not item["has_target"] and torch.count_nonzero(item["target"]) == 0
    reference = item["reference"]
    makeup_faces = [torch.from_numpy(cache.image(i)) for i in cache.indices("makeup")]
    assert reference.shape == (3, 128, 128) and len(makeup_faces) == 2
    mixed = training_pairs(cache, "train", real_fraction=0.5, length=40, fractions=ALL_TRAIN)
    kinds = [mixed[i]["kind"] for i in range(40)]
    assert 5 < kinds.count("real") < 35
    batch = next(iter(torch.utils.data.DataLoader(mixed, batch_size=4)))
    _check_batch(batch, 128, 4)
    assert batch["has_target"].tolist() == [k == "synthetic" for k in batch["kind"]]


def test_unlabelled_faces_judged_made_up_are_references_not_bare_faces(tmp_path, small_cache):
    listed = sorted(MADE_UP_FACES)[0]
    shutil.copytree(small_cache, tmp_path / "cache")
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    meta["faces"][0]["image"] = f"faces/celebahq-a/face/{listed}"  # kind "face"
    meta["faces"][1]["image"] = f"faces/other/non-makeup/{listed}"  # kind "non-makeup": its label is kept
    (tmp_path / "cache" / "meta.json").write_text(json.dumps(meta))
    cache = FaceCache(tmp_path / "cache")
    assert [cache.records[i].kind for i in range(3)] == ["makeup", "non-makeup", "makeup"]
    assert cache.indices("makeup") == [0, 2, 5]
    everyone = split_indices(cache, "train", fractions=ALL_TRAIN, kinds=("non-makeup", "face"))
    assert 0 not in everyone and 1 in everyone
    assert RealPairs(cache, "train", length=12, fractions=ALL_TRAIN).references == [0, 2, 5]


def test_the_judged_made_up_faces_are_unlabelled_faces_of_the_shared_set(shared_faces):
    with open(shared_faces / "manifest.csv", newline="") as handle:
        kinds = {Path(row["image"]).name: row["kind"] for row in csv.DictReader(handle)}
    assert MADE_UP_FACES <= set(kinds), sorted(MADE_UP_FACES - set(kinds))
    assert {kinds[name] for name in MADE_UP_FACES} == {"face"}


def test_flip_swaps_regions_and_warps_keep_masks_on_the_image(small_cache):
    cache = FaceCache(small_cache)
    image, masks = cache.image(0), cache.masks(0)
    flip_only = FaceAugment(flip=1.0, rotation=0, scale=0, shift=0, brightness=0, contrast=0, saturation=0)
    flipped, flipped_masks = flip_only.source(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    np.testing.assert_array_equal(flipped_masks["eyeshadow_right"], masks["eyeshadow_left"][:, ::-1])
    # Paint the lips white on black and check that the warped image and warped mask still agree.
    painted = np.repeat((masks["lips"] * 255).astype(np.uint8)[..., None], 3, axis=2)
    warp = FaceAugment(flip=0.0, rotation=8, scale=0.08, shift=0.05, brightness=0, contrast=0, saturation=0)
    warped, warped_masks = warp.source(painted, masks, np.random.default_rng(1))
    assert not np.array_equal(warped_masks["lips"], masks["lips"])
    from makeup.regions import mask_iou

    assert mask_iou(warped[..., 0] > 127, warped_masks["lips"]) > 0.85
    jitter = FaceAugment(flip=0, rotation=0, scale=0, shift=0, brightness=0.2, contrast=0.2, saturation=0.2)
    recoloured, same_masks = jitter.source(image, masks, np.random.default_rng(2))
    assert same_masks is masks and not np.array_equal(recoloured, image)
    reference, _ = FaceAugment().reference(image, masks, np.random.default_rng(5))
    assert np.array_equal(reference, image) or np.array_equal(reference, image[:, ::-1])


def _write_mt_folder(root: Path, astronaut, grace_hopper, with_lists: bool) -> None:
    from test_regions import _label_face  # tests/ is on sys.path under pytest

    labels = _label_face(dict(skin=1, brow_left=2, brow_right=3, eye_left=4, eye_right=5, nose=6, upper_lip=7,
                              mouth=8, lower_lip=9), size=256)
    seg = cv2.resize(labels, (321, 321), interpolation=cv2.INTER_NEAREST)
    files = {"makeup/m1.png": astronaut, "makeup/m2.png": grace_hopper, "non-makeup/n1.png": grace_hopper,
             "non-makeup/n2.png": astronaut, "non-makeup/n3.png": astronaut[::-1]}
    for relative, photo in files.items():
        for folder in ("images", "segs"):
            (root / folder / relative).parent.mkdir(parents=True, exist_ok=True)
        image = cv2.resize(np.ascontiguousarray(photo), (361, 361), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / "images" / relative), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "segs" / relative), seg)
    if with_lists:
        (root / "makeup.txt").write_text("makeup/m2.png\n")
        (root / "non-makeup.txt").write_text("non-makeup/n1.png\nnon-makeup/n3.png\n")


def test_mt_format_reader(tmp_path, astronaut, grace_hopper):
    _write_mt_folder(tmp_path, astronaut, grace_hopper, with_lists=False)
    faces = MTFaces(tmp_path, size=128)
    assert [r.image for r in faces.records] == ["makeup/m1.png", "makeup/m2.png", "non-makeup/n1.png",
                                                "non-makeup/n2.png", "non-makeup/n3.png"]
    assert faces.indices("makeup") == [0, 1]
    assert faces.image(0).shape == (128, 128, 3)
    masks = faces.masks(2)
    assert set(masks) == set(REGIONS)
    assert masks["lips"].shape == (128, 128) and masks["lips"].sum() > 0 and masks["mouth"].sum() > 0
    assert masks["eye_left"][52, 45] == 1, "label maps are resized to the crop"
    assert faces.histogram_masks(2).shape == (4, 128, 128)
    real = RealPairs(faces, "train", length=3, fractions=ALL_TRAIN)
    _check_batch(torch.utils.data.default_collate([real[i] for i in range(3)]), 128, 3)
    synthetic = SyntheticTriplets(faces, "train", length=2, fractions=ALL_TRAIN)
    assert synthetic[0]["has_target"]


def test_mt_format_lists_and_errors(tmp_path, astronaut, grace_hopper):
    _write_mt_folder(tmp_path, astronaut, grace_hopper, with_lists=True)
    faces = MTFaces(tmp_path, size=64, convention="mt14")
    assert [r.image for r in faces.records] == ["makeup/m2.png", "non-makeup/n1.png", "non-makeup/n3.png"]
    (tmp_path / "segs" / "non-makeup" / "n3.png").unlink()
    with pytest.raises(MTFormatError, match="no label map"):
        MTFaces(tmp_path)
    (tmp_path / "non-makeup.txt").write_text("../../etc/passwd\n")
    with pytest.raises(MTFormatError, match="relative to images"):
        MTFaces(tmp_path)
    with pytest.raises(MTFormatError, match="MT-format"):
        MTFaces(tmp_path / "images")
    with pytest.raises(MTFormatError, match="convention"):
        MTFaces(tmp_path, convention="lapa")
