"""`makeup eval` end to end on a tiny cache of real faces, and the per-pair metrics it averages."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from makeup.cli import main
from makeup.data.cache import FaceRecord, pack_masks, write_cache
from makeup.data.triplets import split_of
from makeup.evaluate.runner import EvalPair, EvaluationError, load_eval_models, real_pair_metrics, triplet_metrics
from makeup.evaluate.metrics import MAX_PSNR

SIZE = 128


def _first_in_test(names, number: int) -> list[str]:
    """The first `number` identity names that land in the held-out "test" split (seed 0)."""
    found = []
    for name in names:
        if split_of(name, seed=0) == "test":
            found.append(name)
            if len(found) == number:
                return found
    raise ValueError("names ran out")


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """Four bare faces (two portraits and mirrored, re-lit copies) and one made-up face, all in the test split."""
    pytest.importorskip("mediapipe", reason="computing masks needs mediapipe 0.10.21 (the train extra)")
    from makeup.face import align_face, detect_faces
    from makeup.regions import detect_landmarks, masks_from_landmarks
    from makeup.synth import preset, render

    crops = []
    for photo in (astronaut, grace_hopper):
        crop = align_face(photo, detect_faces(photo)[0].landmarks, size=SIZE).crop
        crops += [crop, np.clip(crop[:, ::-1].astype(int) * 0.9 + 12, 0, 255).astype(np.uint8)]
    images, masks, landmarks, records = [], [], [], []
    identities = _first_in_test((f"person-{i}" for i in count()), len(crops) + 1)
    for i, crop in enumerate(crops + [crops[3]]):
        points = detect_landmarks(crop)
        region_masks = masks_from_landmarks(points, (SIZE, SIZE))
        made_up = i == len(crops)
        if made_up:  # a "real" makeup reference for the unpaired pairs
            crop = render(crop, region_masks, preset("berry-bold"))
        images.append(crop)
        masks.append(pack_masks(region_masks))
        landmarks.append(points)
        records.append(FaceRecord(id=f"face-{i}", image=f"face-{i}.png", kind="makeup" if made_up else "non-makeup",
                                  identity=identities[i]))
    root = tmp_path_factory.mktemp("eval-cache")
    write_cache(root, np.stack(images), np.stack(masks), np.stack(landmarks), records)
    return root


def _weights_file(folder: Path, name: str, seed: int) -> Path:
    """A weights file of an (untrained) slim-s as `makeup export` would write it after a run with `seed`."""
    from makeup.models import create_model
    from makeup.weights import save_weights

    path = save_weights(create_model("slim-s"), weights_dir=folder, dtype=torch.float32, update_manifest=False,
                        training={"config": {"seed": seed}})
    return path.rename(folder / f"{name}.safetensors")


def test_eval_cli_writes_json_markdown_and_contact_sheets(tiny_cache, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "results"
    exported = _weights_file(tmp_path, "slim-s-run3", seed=3)
    code = main(["eval", "--cache", str(tiny_cache), "--models", "slim-s", str(exported), "--size", "64",
                 "--triplets", "3", "--real-pairs", "2", "--out", str(out), "--device", "cpu",
                 "--weights-dir", str(tmp_path / "none")])
    assert code == 0
    result = json.loads((out / "eval.json").read_text())
    assert result["synthetic"]["count"] == 3 and result["real"]["count"] == 2
    for section in ("synthetic", "real"):
        rows = {row["model"]: row for row in result[section]["rows"]}
        assert list(rows) == ["identity", "classical", "example", "slim-s", "slim-s-run3"]
        assert rows["slim-s"]["trained"] is False and rows["slim-s"]["weights"].startswith("UNTRAINED")
        assert rows["identity"]["trained"] and rows["classical"]["trained"] and rows["slim-s-run3"]["trained"]
    synthetic = {row["model"]: row["metrics"] for row in result["synthetic"]["rows"]}
    real = {row["model"]: row["metrics"] for row in result["real"]["rows"]}
    assert synthetic["identity"]["psnr_unchanged"] == MAX_PSNR  # doing nothing keeps every untouched pixel
    assert real["identity"]["psnr_background"] == MAX_PSNR and real["identity"]["ssim_face_structure"] == 1.0
    assert real["classical"]["psnr_background"] == MAX_PSNR  # the classical baseline only works inside the masks
    assert real["classical"]["emd_lips"] < real["identity"]["emd_lips"]  # and carries the lipstick over
    assert real["example"]["emd_lips"] < real["identity"]["emd_lips"]  # so does the example-based method
    assert real["identity"]["gap_lips"] == 1.0 and real["example"]["gap_lips"] < 1.0  # 1: nothing moved
    assert 5.0 < synthetic["slim-s"]["psnr"] < synthetic["identity"]["psnr"]  # random weights: far from the truth
    assert "--cache" in result["settings"]["command"] and result["settings"]["size"] == 64
    # per pair, in the order of the pair names, averaging to the table's figures
    for section in ("synthetic", "real"):
        for row in result[section]["rows"]:
            assert len(row["per_pair"]) == len(result[section]["pairs"]) == result[section]["count"]
            for key, mean in row["metrics"].items():
                values = [pair[key] for pair in row["per_pair"] if pair[key] is not None]
                assert mean == pytest.approx(np.mean(values)) if values else mean is None
    # the only real reference wears berry lipstick: both real pairs fall in the made-up-lips group
    groups = result["real"]["reference_groups"]
    assert groups["lips_made_up"] == 2 and groups["lips_bare"] == 0
    assert groups["lids_made_up"] + groups["lids_bare"] == 2
    by_reference = {row["model"]: row["by_reference"] for row in result["real"]["rows"]}
    assert by_reference["identity"]["emd_lips_made_up"] == pytest.approx(real["identity"]["emd_lips"])
    assert by_reference["identity"]["emd_lips_bare"] is None
    # trained with another split seed than the evaluation's: its "held-out" faces may have been training faces
    assert [w for w in result["settings"]["warnings"] if "slim-s-run3" in w and "--seed 3" in w]

    markdown = (out / "eval.md").read_text()
    assert "| identity |" in markdown and "| classical |" in markdown and "UNTRAINED" in markdown
    assert "**slim-s: no trained weights" in markdown and "Warning: slim-s-run3 was trained with seed 3" in markdown
    assert "ΔE00 lips" in markdown and "EMD lips" in markdown
    assert "EMD lips, made-up lips (2) ↓" in markdown and "| EMD lips, bare lips (0) |" in markdown  # unranked
    sheet = Image.open(out / "sheet-synthetic.png")
    assert sheet.width == 8 * 160  # source, reference, ground truth and five models
    assert Image.open(out / "sheet-real.png").width == 7 * 160
    classical = json.loads((out / "metrics-classical.json").read_text())  # what `makeup export --metrics` records
    assert classical["synthetic"]["psnr"] == synthetic["classical"]["psnr"] and classical["real"]["count"] == 2


def test_a_weights_file_is_evaluated_under_its_own_name(tmp_path):
    path = _weights_file(tmp_path, "teacher-step500", seed=0)
    rows = load_eval_models([str(path)])
    assert [row.label for row in rows] == ["identity", "classical", "example", "teacher-step500"]
    assert rows[-1].trained and rows[-1].info["architecture"] == "slim-s" and rows[-1].info["training_seed"] == 0
    with pytest.raises(EvaluationError, match="not a generator"):
        load_eval_models(["patchgan"])


def test_a_weights_file_trained_on_warped_references_is_evaluated_on_warped_references(tiny_cache, tmp_path):
    from makeup.data.cache import FaceCache
    from makeup.evaluate.runner import real_pairs, run_model
    from makeup.models.tensors import image_to_tensor, tensor_to_image
    from makeup.classical.correspondence import warp_to
    from makeup.weights import save_weights

    pairs = real_pairs(FaceCache(tiny_cache), 2, SIZE)
    plain_file = _weights_file(tmp_path, "plain", seed=0)
    model = load_eval_models([str(plain_file)])[-1].module
    warped_file = save_weights(model, weights_dir=tmp_path, dtype=torch.float32, update_manifest=False,
                               training={"config": {"seed": 0, "warp_reference": True}})
    warped_model = load_eval_models([str(warped_file)])[-1]
    outputs = run_model(warped_model, pairs)
    for pair, output in zip(pairs, outputs):
        on_source = warp_to(pair.reference, pair.reference_landmarks, pair.source_landmarks)
        assert not np.array_equal(on_source, pair.reference)
        with torch.inference_mode():
            expected = tensor_to_image(model(image_to_tensor(pair.source), image_to_tensor(on_source))[0])
        assert np.abs(output.astype(int) - expected).max() <= 1


def test_a_weights_file_that_asks_for_example_lips_is_evaluated_with_them(tiny_cache, tmp_path):
    from makeup.data.cache import FaceCache
    from makeup.evaluate.runner import real_pairs, run_model
    from makeup.classical.example_lips import with_example_lips
    from makeup.weights import save_weights

    pairs = real_pairs(FaceCache(tiny_cache), 2, SIZE)
    plain_file = _weights_file(tmp_path, "plain", seed=0)
    plain_model = load_eval_models([str(plain_file)])[-1]
    lips_file = save_weights(plain_model.module, weights_dir=tmp_path, dtype=torch.float32, update_manifest=False,
                             training={"config": {"seed": 0}, "inference": {"example_lips": True}})
    plain, with_lips = run_model(plain_model, pairs), run_model(load_eval_models([str(lips_file)])[-1], pairs)
    for pair, before, after in zip(pairs, plain, with_lips):
        expected = with_example_lips(before, pair.source, pair.reference, pair.source_masks, pair.reference_masks,
                                     pair.source_landmarks, pair.reference_landmarks)
        assert np.array_equal(after, expected) and not np.array_equal(after, before)


def _pair(target: np.ndarray | None = None) -> EvalPair:
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    masks = {name: np.zeros((32, 32), np.float32) for name in
             ("face", "skin", "lips", "eyeshadow_left", "eyeshadow_right", "cheek_left", "cheek_right")}
    masks["face"][4:28, 4:28] = 1
    masks["skin"][4:28, 4:28] = 1
    masks["lips"][20:24, 12:20] = 1
    masks["eyeshadow_left"][8:12, 6:14] = 1
    masks["eyeshadow_right"][8:12, 18:26] = 1
    masks["cheek_left"][14:18, 6:10] = 1
    masks["cheek_right"][14:18, 22:26] = 1
    return EvalPair(source, source.copy(), masks, masks, target=target, name="hand-made")


def test_triplet_metrics_on_hand_made_images():
    pair = _pair()
    target = pair.source.copy()
    target[20:24, 12:20] = (200, 30, 60)  # lipstick: the only change the "makeup" made
    pair.target = target
    perfect = triplet_metrics(target, pair)
    assert perfect["psnr"] == MAX_PSNR and perfect["de_lips"] == 0.0 and perfect["psnr_unchanged"] == MAX_PSNR
    untouched = triplet_metrics(pair.source, pair)
    assert untouched["psnr_unchanged"] == MAX_PSNR and untouched["de_lips"] > 10 and untouched["de_cheeks"] == 0.0
    expected_psnr = 10 * np.log10(255**2 / np.mean((pair.source.astype(float) - target) ** 2))
    assert untouched["psnr"] == pytest.approx(expected_psnr)
    damaged = pair.source.copy()
    damaged[0:2] = 255 - damaged[0:2]  # harm two rows the makeup never touched
    assert triplet_metrics(damaged, pair)["psnr_unchanged"] < 20
    with pytest.raises(ValueError, match="no ground truth"):
        triplet_metrics(pair.source, _pair())


def test_real_pair_metrics_see_background_damage_and_region_colours():
    pair = _pair()
    assert real_pair_metrics(pair.source, pair)["psnr_background"] == MAX_PSNR
    output = pair.source.copy()
    output[0:2] = 0  # the background is outside the face mask
    assert real_pair_metrics(output, pair)["psnr_background"] < 20
    pair.reference = pair.source.copy()
    pair.reference[20:24, 12:20] = (200, 30, 60)
    lipstick = pair.source.copy()
    lipstick[20:24, 12:20] = (200, 30, 60)
    assert real_pair_metrics(lipstick, pair)["emd_lips"] == pytest.approx(0.0)
    assert real_pair_metrics(pair.source, pair)["emd_lips"] > 10
    # the gap: the distance left, as a share of the untouched source's
    assert real_pair_metrics(lipstick, pair)["gap_lips"] == pytest.approx(0.0)
    assert real_pair_metrics(pair.source, pair)["gap_lips"] == 1.0


def test_a_split_without_faces_is_refused_with_a_reason(tiny_cache, tmp_path, capsys):
    code = main(["eval", "--cache", str(tiny_cache), "--models", "--split", "val", "--size", "64",
                 "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 2
    assert "nothing to evaluate in the 'val' split" in capsys.readouterr().err
