"""`makeup transfer` in single and folder mode, on real photos with the real pipeline (an untrained model, allowed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from makeup.cli import main
from makeup.io import load_image, save_image

MODEL = ["--model", "beautygan-concat", "--allow-untrained", "--device", "cpu"]
# the model has no trained weights on purpose here; its warning is expected
pytestmark = pytest.mark.filterwarnings("ignore::makeup.weights.UntrainedModelWarning")


@pytest.fixture(scope="module", autouse=True)
def single_threaded():
    torch.set_num_threads(1)


@pytest.fixture()
def photos(tmp_path, astronaut, grace_hopper):
    save_image(astronaut, tmp_path / "astronaut.jpg")
    save_image(grace_hopper, tmp_path / "grace.png")
    return tmp_path


def test_single_pair_writes_the_full_resolution_photo(photos, astronaut, capsys):
    out = photos / "out" / "result.png"
    assert main(["transfer", str(photos / "astronaut.jpg"), str(photos / "grace.png"), "-o", str(out), *MODEL]) == 0
    result = load_image(out)
    assert result.shape == astronaut.shape
    assert not np.array_equal(result, load_image(photos / "astronaut.jpg"))
    captured = capsys.readouterr()
    assert "RANDOM weights" in captured.err and str(out) in captured.out


def test_crop_only_and_intensity(photos):
    crop = photos / "crop.png"
    args = [str(photos / "astronaut.jpg"), str(photos / "grace.png"), "-o", str(crop), "--crop-only", *MODEL]
    assert main(["transfer", *args]) == 0
    assert load_image(crop).shape == (256, 256, 3)
    unchanged = photos / "unchanged.png"
    args = [str(photos / "astronaut.jpg"), str(photos / "grace.png"), "-o", str(unchanged), "--intensity", "0", *MODEL]
    assert main(["transfer", *args]) == 0
    np.testing.assert_array_equal(load_image(unchanged), load_image(photos / "astronaut.jpg"))


def test_untrained_model_is_refused_without_the_flag(photos, capsys):
    out = photos / "never.png"
    code = main(["transfer", str(photos / "astronaut.jpg"), str(photos / "grace.png"), "-o", str(out),
                 "--model", "beautygan-concat", "--device", "cpu"])
    assert code == 2 and not out.exists()
    assert "no trained weights" in capsys.readouterr().err


def test_bad_input_gives_a_message_not_a_traceback(photos, capsys):
    (photos / "notes.jpg").write_text("this is not a photo")
    out = photos / "never.png"
    assert main(["transfer", str(photos / "notes.jpg"), str(photos / "grace.png"), "-o", str(out), *MODEL]) == 1
    assert "source image" in capsys.readouterr().err and not out.exists()
    assert main(["transfer", str(photos / "astronaut.jpg"), "-o", str(out), *MODEL]) == 2
    assert main(["transfer", "--sources", str(photos), "-o", str(out), *MODEL]) == 2
    assert main(["transfer", str(photos / "astronaut.jpg"), str(photos / "grace.png"), "-o", str(out),
                 "--intensity", "2", *MODEL]) == 2


def test_folder_mode_survives_bad_files_in_the_middle(tmp_path, astronaut, grace_hopper, capsys):
    sources, references, out = tmp_path / "sources", tmp_path / "references", tmp_path / "out"
    sources.mkdir()
    references.mkdir()
    save_image(astronaut, sources / "a_astronaut.jpg")
    (sources / "b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated garbage")
    save_image(np.full((300, 400, 3), 90, np.uint8), sources / "c_no_face.png")
    save_image(cv2.flip(grace_hopper, 1), sources / "d_grace.png")
    (sources / "readme.txt").write_text("ignored: not an image suffix")
    save_image(grace_hopper, references / "look.png")

    code = main(["transfer", "--sources", str(sources), "--references", str(references), "-o", str(out),
                 "--format", "jpg", *MODEL])
    assert code == 1  # finished, but says not everything worked
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a_astronaut__look.jpg", "d_grace__look.jpg"]  # no temporary files left behind
    assert load_image(out / "a_astronaut__look.jpg").shape == astronaut.shape
    err = capsys.readouterr().err
    assert "b_broken.jpg" in err and "c_no_face.png" in err and "No face" in err
    assert "a_astronaut" not in err.split("skipped", 1)[1]


def test_folder_mode_with_one_reference_file(tmp_path, astronaut, grace_hopper):
    sources, out = tmp_path / "sources", tmp_path / "out"
    sources.mkdir()
    save_image(astronaut, sources / "one.png")
    save_image(grace_hopper, tmp_path / "look.jpg")
    code = main(["transfer", "--sources", str(sources), "--references", str(tmp_path / "look.jpg"), "-o", str(out),
                 *MODEL])
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["one__look.png"]


def test_folder_mode_interrupted_leaves_only_complete_files_and_a_rerun_finishes(tmp_path, astronaut, grace_hopper):
    import signal
    import subprocess
    import sys
    import time

    sources, outputs = tmp_path / "sources", tmp_path / "out"
    for index in range(12):
        save_image(np.ascontiguousarray(np.roll(astronaut, index * 3, axis=1)), sources / f"face{index:02d}.png")
    save_image(grace_hopper, tmp_path / "look.png")
    command = [sys.executable, "-m", "makeup", "transfer", "--sources", str(sources), "--references",
               str(tmp_path / "look.png"), "-o", str(outputs), *MODEL]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not list(outputs.glob("*.png")):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    written = sorted(outputs.glob("*.png"))
    assert 1 <= len(written) < 12
    assert not [p for p in outputs.iterdir() if p.suffix != ".png"]  # no partial file
    for path in written:
        assert load_image(path).shape == astronaut.shape  # every file is complete
    stamps = {path: path.stat().st_mtime_ns for path in written}

    assert main(["transfer", "--sources", str(sources), "--references", str(tmp_path / "look.png"),
                 "-o", str(outputs), *MODEL]) == 0
    assert len(list(outputs.glob("*.png"))) == 12
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())  # done ones were kept
