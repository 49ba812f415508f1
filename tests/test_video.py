"""Makeup on video with the real MTCNN, FaceMesh, a shipped student and PyAV: clips in and out, the audio kept,
rotation honoured, faces lost and found, every bad clip refused with its message and no file left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clips import portrait_frames, write_mp4  # tests/ is on sys.path under pytest

av = pytest.importorskip("av", reason="video needs PyAV (the video extra)")
pytest.importorskip("mediapipe", reason="tracking needs FaceMesh (mediapipe 0.10.21)")

from makeup.transfer import MakeupPipeline  # noqa: E402
from makeup.video import FrameMaker, probe, transfer_video  # noqa: E402
from makeup.video.transfer import DEFAULT_MODEL_EVERY  # noqa: E402
from makeup.video.clip import (  # noqa: E402
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    OddSizeError,
    TruncatedVideoError,
    VideoTooLargeError,
    VideoTooLongError,
)

MODEL = "slim-s"  # a shipped student: what video is for


@pytest.fixture(scope="module")
def pipeline() -> MakeupPipeline:
    return MakeupPipeline(models=[MODEL], device="cpu")


@pytest.fixture(scope="module")
def look(grace_hopper) -> np.ndarray:
    """Grace Hopper wearing the renderer's classic red: a reference whose makeup cannot be missed."""
    from makeup.regions import masks_from_image
    from makeup.synth import preset, render

    return render(grace_hopper, masks_from_image(grace_hopper), preset("classic-red"))


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(".") or path.suffix == ".mp4")


def test_a_clip_comes_back_made_up_with_its_frames_rate_size_and_audio(pipeline, tmp_path, astronaut,
                                                                        look):
    clip = write_mp4(tmp_path / "clip.mp4", portrait_frames(astronaut, 12), fps=12, tone_seconds=1.0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    report = transfer_video(pipeline, clip, look, out_dir / "made-up.mp4", MODEL)
    info = probe(out_dir / "made-up.mp4")
    assert (info.frames, info.fps, info.width, info.height, info.has_audio) == (12, 12, 320, 240, True)
    assert abs(_audio_seconds(out_dir / "made-up.mp4") - _audio_seconds(clip)) < 0.05
    assert report.frames == report.made_up == 12 and report.detections >= 1
    before, after = _decoded(clip), _decoded(out_dir / "made-up.mp4")
    changed = [np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 25 for a, b in zip(before, after)]
    assert all(50 < mask.sum() < 0.2 * mask.size for mask in changed)  # the face, not the frame
    assert _leftovers(out_dir) == ["made-up.mp4"]
    with av.open(str(out_dir / "made-up.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_a_phone_clip_stored_on_its_side_comes_out_upright(pipeline, tmp_path, astronaut, look):
    upright = portrait_frames(astronaut, 6, size=(240, 320))  # a portrait clip, as shown
    stored = [np.ascontiguousarray(np.rot90(frame, k=-1)) for frame in upright]  # as a phone stores it
    clip = write_mp4(tmp_path / "phone.mp4", stored, rotation=90)
    assert probe(clip).rotation == 90 and (probe(clip).width, probe(clip).height) == (240, 320)
    report = transfer_video(pipeline, clip, look, tmp_path / "out.mp4", MODEL)
    assert report.made_up == 6  # the face was found: the frames were turned upright first
    out = _decoded(tmp_path / "out.mp4")
    assert out[0].shape == (320, 240, 3) and probe(tmp_path / "out.mp4").rotation == 0
    # away from the face the output is the upright picture
    top = slice(0, 40)
    assert np.abs(out[0][top].astype(int) - upright[0][top].astype(int)).mean() < 6


def test_frames_without_a_face_pass_through_and_the_face_is_found_again(pipeline, tmp_path, astronaut,
                                                                         look):
    faces = portrait_frames(astronaut, 10)
    rng = np.random.default_rng(0)
    empty = [np.clip(120 + rng.normal(0, 4, faces[0].shape), 0, 255).astype(np.uint8) for _ in range(4)]
    clip = write_mp4(tmp_path / "gap.mp4", faces[:5] + empty + faces[5:])
    report = transfer_video(pipeline, clip, look, tmp_path / "out.mp4", MODEL)
    assert report.frames == 14 and report.made_up == 10
    before, after = _decoded(clip), _decoded(tmp_path / "out.mp4")
    for index in range(5, 9):  # unchanged but for the encoder's own rounding
        assert np.abs(after[index].astype(int) - before[index].astype(int)).mean() < 2.0
    assert np.abs(after[12].astype(int) - before[12].astype(int)).max() > 25  # made up again


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = np.zeros((1, 44100), np.float32)
        frame = av.AudioFrame.from_ndarray(samples[:, :1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def _faststart(path: Path, astronaut: np.ndarray) -> Path:
    """A 24-frame clip with its index (moov) before its data, as streaming sites write them."""
    return write_mp4(path, portrait_frames(astronaut, 24), options={"movflags": "faststart"})


def _no_frames(path: Path, astronaut: np.ndarray) -> Path:
    """A clip whose header is whole and whose picture data is gone: not one frame decodes."""
    data = _faststart(path, astronaut).read_bytes()
    path.write_bytes(data[: data.index(b"mdat") + 4])
    return path


def _truncated(path: Path, astronaut: np.ndarray) -> Path:
    """A clip cut two thirds of the way through its picture data."""
    data = _faststart(path, astronaut).read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _odd_size(path: Path, astronaut: np.ndarray) -> Path:
    """A 319x240 clip (lossless FFV1 in Matroska takes odd sides; H.264 in yuv420p does not)."""
    frames = [np.ascontiguousarray(frame[:, :319]) for frame in portrait_frames(astronaut, 3)]
    return write_mp4(path, frames, codec="ffv1", pix_fmt="bgr0")


@pytest.mark.parametrize(("case", "error", "message"), [
    ("text", NotAVideoError, "not a video"),
    ("audio", NoVideoStreamError, "no video stream"),
    ("empty", EmptyVideoError, "holds no frames"),
    ("truncated", TruncatedVideoError, "cut short"),
    ("large", VideoTooLargeError, "megapixels"),
    ("long", VideoTooLongError, "--max-seconds"),
    ("odd", OddSizeError, "even sides"),
])
def test_every_bad_clip_gets_its_message_and_leaves_no_file(pipeline, tmp_path, astronaut, look, case,
                                                            error, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    if case == "text":
        clip = inputs / "notes.mp4"
        clip.write_text("not a video at all")
    elif case == "audio":
        clip = _audio_only(inputs / "voice.mp4")
    elif case == "empty":
        clip = _no_frames(inputs / "empty.mp4", astronaut)
    elif case == "truncated":
        clip = _truncated(inputs / "cut.mp4", astronaut)
    elif case == "odd":
        clip = _odd_size(inputs / "odd.mkv", astronaut)
    else:
        clip = write_mp4(inputs / "clip.mp4", portrait_frames(astronaut, 24), fps=12)
    limits = {"large": {"max_frame_pixels": 320 * 200}, "long": {"max_seconds": 1.0}}.get(case, {})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(error, match=message):
        transfer_video(pipeline, clip, look, out_dir / "made-up.mp4", MODEL, **limits)
    assert _leftovers(out_dir) == []


def test_an_interrupted_run_leaves_no_file(pipeline, tmp_path, astronaut, look):
    clip = write_mp4(tmp_path / "clip.mp4", portrait_frames(astronaut, 12), tone_seconds=1.0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def stop_at_the_fourth_frame(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transfer_video(pipeline, clip, look, out_dir / "made-up.mp4", MODEL, progress=stop_at_the_fourth_frame)
    assert _leftovers(out_dir) == []


def test_frames_between_model_runs_wear_the_makeup_moved_with_the_face(pipeline, astronaut, look):
    frames = portrait_frames(astronaut, 9, step=3)  # the head pans 3 px a frame
    every_frame = FrameMaker(pipeline, look, MODEL)
    every_third = FrameMaker(pipeline, look, MODEL, model_every=3)
    reference = [every_frame.make_up(frame, index / 12) for index, frame in enumerate(frames)]
    carried = [every_third.make_up(frame, index / 12) for index, frame in enumerate(frames)]
    assert every_third.carried == 6 and every_frame.carried == 0
    assert every_third.stage_ms["model"] < every_frame.stage_ms["model"]
    for index in (1, 2, 4, 5, 7, 8):  # frames that wore the last model run's makeup
        made_up = np.abs(carried[index].astype(int) - frames[index].astype(int)).max(axis=2) > 25
        assert 50 < made_up.sum() < 0.2 * made_up.size  # the face wears makeup, the frame does not
        # where the model itself puts it on this frame (within a few grey levels), not where it was on the frame
        # the model last ran on
        where = np.abs(reference[index].astype(int) - frames[index]).max(axis=2) > 10
        last = index - index % 3
        left_in_place = np.clip(frames[index].astype(int) + carried[last] - frames[last], 0, 255)
        error = np.abs(carried[index].astype(int) - reference[index])[where].mean()
        assert error < 5 and error < 0.5 * np.abs(left_in_place - reference[index])[where].mean()


def test_decoding_ahead_and_encoding_behind_keep_the_order_and_raise_errors_where_they_happened(tmp_path):
    from makeup.video.overlap import WriteBehind, read_ahead

    def frames_then_a_damaged_one():
        yield from range(5)
        raise TruncatedVideoError("cut short")

    seen = []
    with pytest.raises(TruncatedVideoError, match="cut short"):
        for item in read_ahead(frames_then_a_damaged_one(), depth=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]  # every frame before the error, in order

    written = []

    def disk_full_at_the_third(item: int) -> None:
        if item == 2:
            raise OSError("No space left on device")
        written.append(item)

    behind = WriteBehind(disk_full_at_the_third, depth=2)
    with pytest.raises(OSError, match="No space left"):
        for item in range(50):
            behind.write(item)
        behind.finish()
    behind.abandon()
    assert written == [0, 1]  # nothing after the failure is written


def test_the_command_line_makes_up_a_clip(tmp_path, astronaut, look, capsys):
    from PIL import Image

    from makeup.cli import main

    clip = write_mp4(tmp_path / "clip.mp4", portrait_frames(astronaut, 6), tone_seconds=0.5)
    reference = tmp_path / "look.png"
    Image.fromarray(look).save(reference)
    assert main(["transfer", str(clip), str(reference), "-o", str(tmp_path / "out.mp4"), "--model", MODEL]) == 0
    assert probe(tmp_path / "out.mp4").frames == 6
    # by default (transfer_video's DEFAULT_MODEL_EVERY) the model runs on every other frame
    assert DEFAULT_MODEL_EVERY == 2 and "6 made up, 3 of them wearing the last model run's makeup" in \
        capsys.readouterr().out
    command = ["transfer", str(clip), str(reference), "-o", str(tmp_path / "every.mp4"), "--model", MODEL]
    assert main([*command, "--model-every", "1"]) == 0
    assert "6 made up" in (out := capsys.readouterr().out) and "wearing the last" not in out
    with pytest.raises(SystemExit):
        main([*command, "--model-every", "0"])
    assert "--model-every: expected a whole number of frames, 1 or more" in capsys.readouterr().err
    assert main(["transfer", str(clip), str(reference), "-o", str(tmp_path / "out.gif"), "--model", MODEL]) == 2
    assert not (tmp_path / "out.gif").exists()


def test_smoothing_lowers_flicker_on_a_still_face(pipeline, look):
    from makeup.bench.video import flicker, made_up_frames, still_clip

    frames = still_clip(frames=16)
    smoothed = flicker(frames, made_up_frames(FrameMaker(pipeline, look, MODEL, smoothing=True), frames))
    raw = flicker(frames, made_up_frames(FrameMaker(pipeline, look, MODEL, smoothing=False), frames))
    assert smoothed < raw
