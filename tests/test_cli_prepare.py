"""`makeup prepare` end to end: real MTCNN alignment, FaceMesh masks, skipped files listed, cache readable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from makeup.cli import main
from makeup.data import FaceCache
from makeup.regions import REGIONS

pytest.importorskip("mediapipe", reason="makeup prepare computes masks with mediapipe 0.10.21 (the train extra)")


def _save(path, image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))


def test_prepare_a_folder(tmp_path, capsys, astronaut, grace_hopper):
    faces = tmp_path / "faces"
    _save(faces / "non-makeup" / "astronaut.png", astronaut)
    _save(faces / "makeup" / "grace.jpg", grace_hopper)
    _save(faces / "mirrored.png", astronaut[:, ::-1])
    _save(faces / "noise.png", np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8))
    (faces / "broken.jpg").write_bytes(b"this is not a picture")
    output = tmp_path / "cache"

    assert main(["prepare", "--faces", str(faces), "-o", str(output), "--size", "128"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 faces at 128 px" in printed and "skipped 2" in printed
    assert "noise.png" in printed and "broken.jpg" in printed

    cache = FaceCache(output)
    assert len(cache) == 3 and cache.size == 128 and cache.regions == REGIONS
    kinds = {record.image.split("/", 1)[1]: record.kind for record in cache.records}
    assert kinds == {"makeup/grace.jpg": "makeup", "mirrored.png": "face", "non-makeup/astronaut.png": "non-makeup"}
    assert {item["image"].split("/", 1)[1] for item in cache.skipped} == {"noise.png", "broken.jpg"}
    index = next(i for i, r in enumerate(cache.records) if r.image.endswith("astronaut.png"))
    masks = cache.masks(index)
    eyes_x = [np.nonzero(masks[f"eye_{side}"])[1].mean() for side in ("left", "right")]
    assert eyes_x[0] < 64 < eyes_x[1], "the aligned crop is centred on the face"
    assert np.array(cache.records[index].transform).shape == (2, 3)
    assert cache.landmarks(index) is not None


def test_nothing_usable_is_a_clear_message(tmp_path, capsys):
    (tmp_path / "faces").mkdir()
    assert main(["prepare", "--faces", str(tmp_path / "faces"), "-o", str(tmp_path / "cache")]) == 1
    assert "no images found" in capsys.readouterr().err
    assert main(["prepare", "--faces", str(tmp_path / "missing"), "-o", str(tmp_path / "cache")]) == 1
    assert "no such folder" in capsys.readouterr().err
    _save(tmp_path / "faces" / "noise.png", np.zeros((50, 50, 3), np.uint8))
    assert main(["prepare", "--faces", str(tmp_path / "faces"), "-o", str(tmp_path / "cache")]) == 1
    assert "none of the 1 photos gave a usable face" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_prepare_an_mt_folder_without_facemesh(tmp_path, capsys, astronaut, grace_hopper):
    from test_data import _write_mt_folder  # tests/ is on sys.path under pytest

    _write_mt_folder(tmp_path / "mt", astronaut, grace_hopper, with_lists=False)
    assert main(["prepare", "--mt", str(tmp_path / "mt"), "-o", str(tmp_path / "cache"), "--size", "64"]) == 0
    assert "wrote 5 faces at 64 px" in capsys.readouterr().out
    cache = FaceCache(tmp_path / "cache")
    assert cache.indices("makeup") == [0, 1] and cache.landmarks(0) is None
    assert cache.records[0].masks_from == "mt14" and cache.mask(0, "lips").sum() > 0
    assert main(["prepare", "--mt", str(tmp_path), "-o", str(tmp_path / "c2")]) == 1
    assert "not an MT-format folder" in capsys.readouterr().err


@pytest.mark.shared_data
def test_prepare_reads_a_manifest(tmp_path, shared_faces):
    output = tmp_path / "cache"
    assert main(["prepare", "--faces", str(shared_faces), "-o", str(output), "--size", "64", "--limit", "4"]) == 0
    cache = FaceCache(output)
    assert len(cache) + len(cache.skipped) == 4
    assert all(record.licence for record in cache.records), "licences come from the manifest"
    assert all(record.kind in ("makeup", "non-makeup", "face") for record in cache.records)


def test_re_edited_copies_of_a_photo_share_an_identity(astronaut, grace_hopper):
    from makeup.cli.prepare import duplicate_groups
    from makeup.face import align_face, detect_faces

    crops = [align_face(p, detect_faces(p)[0].landmarks, size=128).crop for p in (astronaut, grace_hopper)]
    brighter = np.clip(crops[0].astype(int) + 6, 0, 255).astype(np.uint8)
    recompressed = cv2.imdecode(cv2.imencode(".jpg", crops[1], [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR)
    groups = duplicate_groups(np.stack([crops[0], crops[1], brighter, recompressed, crops[0][:, ::-1]]))
    assert sorted(groups) == [[0, 2], [1, 3]], "a mirrored crop or another person is not a duplicate"
