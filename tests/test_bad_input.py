"""Bad and odd photos through every public entry point: `MakeupPipeline`, `makeup transfer` and the app's
handlers. Each kind gets the right result (a made-up photo of the right size) or its own error naming the photo,
and nothing crashes or leaves a file behind."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from makeup.app.handlers import Handlers
from makeup.cli import main as cli
from makeup.errors import InputImageError
from makeup.face import FaceTooSmallError, NoFaceError
from makeup.io import ImageSizeError, ImageTooLargeError, TruncatedImageError, UnreadableImageError
from makeup.transfer import MakeupPipeline

MODEL = "slim-m"  # a small, fast student: the photo handling is under test, not the model

# PIL's exif_transpose applies these for orientations 2-8; a file stores the inverse, so it reads upright
_STORED = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class Case:
    """One kind of input: how to write it, which side it goes on, and what must happen.

    expect: "ok" (a photo of `shape` comes back) or an error class; "ok-or-face-error" where either a result or
    a face error is right (a cartoon face, a face at the border)."""

    name: str
    write: Callable[[Path, np.ndarray, np.ndarray], None]
    expect: type | str
    role: str = "source"  # the side the odd file goes on: source, reference, both, or swapped
    shape: Callable[[np.ndarray], tuple] | None = None


def _save(array: np.ndarray, path: Path, **options) -> None:
    Image.fromarray(array).save(path, **options)


def _rotated(orientation: int) -> Callable:
    def write(path: Path, face: np.ndarray, other: np.ndarray) -> None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(face).transpose(_STORED[orientation]).save(path, exif=exif, quality=92)
    return write


def _animated(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    frames = [Image.fromarray(face), Image.fromarray(face[:, ::-1])]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_with_transparency(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    image = Image.fromarray(face).convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    image.info["transparency"] = 0
    image.save(path, transparency=0)


def _sixteen_bit(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    gray = (face.astype(np.float32).mean(axis=2) * 257).astype(np.uint16)
    Image.fromarray(gray).save(path)  # mode I;16


def _huge_exif(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription: a 60 kB EXIF block
    Image.fromarray(face).save(path, exif=exif, quality=92)


def _tiny_face(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    canvas = np.full((600, 600, 3), 200, np.uint8)
    small = np.asarray(Image.fromarray(face).resize((48, 48), Image.Resampling.LANCZOS))
    canvas[276:324, 276:324] = small
    _save(canvas, path)


def _several_faces(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    height = min(face.shape[0], other.shape[0])
    _save(np.concatenate([face[:height], other[:height, :, :]], axis=1), path)


def _at_the_border(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    _save(np.ascontiguousarray(face[:, 110:]), path)  # the face touches the left edge


def _cartoon(path: Path, face: np.ndarray, other: np.ndarray) -> None:
    import cv2

    canvas = np.full((400, 400, 3), 255, np.uint8)
    cv2.circle(canvas, (200, 200), 150, (255, 220, 0), -1)
    for x in (145, 255):
        cv2.circle(canvas, (x, 160), 18, (0, 0, 0), -1)
    cv2.ellipse(canvas, (200, 250), (80, 45), 0, 10, 170, (0, 0, 0), 8)
    _save(canvas, path)


def _truncated(suffix: str) -> Callable:
    def write(path: Path, face: np.ndarray, other: np.ndarray) -> None:
        buffer = io.BytesIO()
        Image.fromarray(face).save(buffer, format="JPEG" if suffix == "jpg" else "PNG")
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return write


def _upright(face: np.ndarray) -> tuple:
    return face.shape


CASES = [
    Case("empty file", lambda p, f, o: p.write_bytes(b""), UnreadableImageError),
    Case("text renamed .png", lambda p, f, o: p.write_text("not an image"), UnreadableImageError),
    Case("truncated JPEG", _truncated("jpg"), TruncatedImageError),
    Case("truncated PNG", _truncated("png"), TruncatedImageError),
    Case("decompression bomb", lambda p, f, o: Image.new("1", (20000, 20000)).save(p), ImageTooLargeError),
    Case("1x1 image", lambda p, f, o: Image.new("RGB", (1, 1)).save(p), ImageSizeError),
    Case("10000x3 image", lambda p, f, o: Image.new("RGB", (10000, 3)).save(p), ImageSizeError),
    Case("16-bit grayscale", _sixteen_bit, "ok", shape=_upright),
    Case("CMYK JPEG", lambda p, f, o: Image.fromarray(f).convert("CMYK").save(p, quality=92), "ok", shape=_upright),
    Case("palette with transparency", _palette_with_transparency, "ok", shape=_upright),
    Case("animated GIF", _animated, "ok", shape=_upright),
    Case("huge EXIF", _huge_exif, "ok", shape=_upright),
    *[Case(f"EXIF rotation {k}", _rotated(k), "ok", shape=_upright) for k in range(2, 9)],
    Case("grayscale", lambda p, f, o: Image.fromarray(f).convert("L").save(p), "ok", shape=_upright),
    Case("no face", lambda p, f, o: Image.new("RGB", (640, 480), (120, 160, 200)).save(p), NoFaceError),
    Case("all black", lambda p, f, o: Image.new("RGB", (640, 480)).save(p), NoFaceError),
    Case("cartoon face", _cartoon, "ok-or-face-error", shape=lambda f: (400, 400, 3)),
    Case("tiny face", _tiny_face, "face-error"),
    Case("several faces", _several_faces, "ok", shape=lambda f: (min(f.shape[0], 512), None, 3)),  # 512: astronaut
    Case("face at the border", _at_the_border, "ok-or-face-error", shape=lambda f: (f.shape[0], f.shape[1] - 110, 3)),
    Case("no face as reference", lambda p, f, o: Image.new("RGB", (640, 480)).save(p), NoFaceError, role="reference"),
    Case("truncated reference", _truncated("jpg"), TruncatedImageError, role="reference"),
    # the astronaut as source and Grace Hopper as reference, the other way round from every other case
    Case("source and reference swapped", lambda p, f, o: _save(o, p), "ok", role="swapped",
         shape=lambda f: (512, 512, 3)),
    Case("the same file as both", lambda p, f, o: _save(f, p), "ok", role="both", shape=_upright),
]
SUFFIX = {"animated GIF": ".gif", "CMYK JPEG": ".jpg", "truncated JPEG": ".jpg", "truncated reference": ".jpg",
          "huge EXIF": ".jpg", **{f"EXIF rotation {k}": ".jpg" for k in range(2, 9)}}


def test_at_least_twenty_kinds():
    assert len({case.name for case in CASES}) >= 20


@pytest.fixture(scope="module")
def pipeline() -> MakeupPipeline:
    torch.set_num_threads(1)
    return MakeupPipeline(models=[MODEL], device="cpu")


@pytest.fixture(scope="module")
def files(tmp_path_factory, grace_hopper, astronaut) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    paths = {"face": folder / "face.png", "other": folder / "other.png"}
    _save(grace_hopper, paths["face"])
    _save(astronaut, paths["other"])
    for case in CASES:
        path = folder / (case.name.replace(" ", "-") + SUFFIX.get(case.name, ".png"))
        case.write(path, grace_hopper, astronaut)
        paths[case.name] = path
    return paths


def _pair(case: Case, files) -> tuple[Path, Path]:
    bad = files[case.name]
    return {"source": (bad, files["other"]), "reference": (files["face"], bad), "both": (bad, bad),
            "swapped": (bad, files["face"])}[case.role]


def _check_error(case: Case, error: Exception) -> None:
    assert isinstance(error, InputImageError), f"{case.name}: {type(error).__name__}: {error}"
    assert error.role == case.role, f"{case.name}: the error names the {error.role}, not the {case.role}"
    if isinstance(case.expect, type):
        assert isinstance(error, case.expect), f"{case.name}: {type(error).__name__}, not {case.expect.__name__}"
    else:
        assert case.expect in ("face-error", "ok-or-face-error"), f"{case.name}: unexpected {error!r}"
        assert isinstance(error, (NoFaceError, FaceTooSmallError)) or "face" in str(error).lower()


def _check_result(case: Case, image: np.ndarray, face: np.ndarray) -> None:
    assert case.expect in ("ok", "ok-or-face-error"), f"{case.name}: expected an error, got a result"
    expected = case.shape(face)
    assert image.ndim == 3 and image.dtype == np.uint8
    assert all(e is None or e == a for e, a in zip(expected, image.shape)), (case.name, image.shape, expected)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pipeline(case, pipeline, files, grace_hopper):
    source, reference = _pair(case, files)
    try:
        result = pipeline.transfer(source, reference, model=MODEL)
    except InputImageError as error:
        _check_error(case, error)
    else:
        _check_result(case, result.image, grace_hopper)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_cli(case, files, tmp_path, capsys, grace_hopper):
    source, reference = _pair(case, files)
    out = tmp_path / "out.png"
    code = cli(["transfer", str(source), str(reference), "-o", str(out), "--model", MODEL, "--device", "cpu"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 0:
        _check_result(case, np.asarray(Image.open(out)), grace_hopper)
    else:
        assert code == 1 and not out.exists(), f"{case.name}: exit {code}, {captured.err}"
        assert f"{case.role} image" in captured.err, captured.err
        assert case.expect != "ok", f"{case.name}: refused: {captured.err}"
    assert [path.name for path in tmp_path.iterdir()] in ([], ["out.png"])  # no partial file left behind


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_app_handlers(case, pipeline, files, grace_hopper):
    source, reference = _pair(case, files)
    try:
        image, _ = Handlers(pipeline).transfer(str(source), str(reference), MODEL)
    except gr.Error as error:
        assert case.expect != "ok", f"{case.name}: refused: {error}"
        assert f"{case.role} image" in str(error) and "Traceback" not in str(error)
    else:
        _check_result(case, image, grace_hopper)
