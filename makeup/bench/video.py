"""Video benchmarks behind `makeup bench --video`: frames per second end to end, and how steady the makeup is.

Clips are synthesised from the public-domain astronaut portrait (scikit-image), so anyone can rerun them:
- `still_clip`: the face held still, with sensor noise (Gaussian, sigma 3 grey levels) on every frame;
- `moving_clip`: the face panned across the frame, zoomed in and turned slowly (in-plane), so its true position
  in every frame is known.

Flicker: the mean frame-to-frame change of the made-up difference (output minus input) where makeup is, divided by
the input's own frame-to-frame change there (sensor noise on the still clip, motion on the moving one): 0 is makeup
as steady as the face, 1 makeup that changes as much as the picture does. Lag: how many frames the makeup trails
the face on the moving clip (the makeup's centroid against the face's true track, along the motion).
"""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FRAME_SIZES = ((640, 480), (1280, 720))
TARGET_STUDENT = "slim-s"
TARGET_FPS = 30.0  # slim-s at 640x480 on the reference 2-core CPU
MODEL_EVERY = (1, 2)  # the model on every frame, and on every other one (the frames between carry its makeup)


def _portrait() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def still_clip(frames: int = 24, size: tuple[int, int] = (640, 480), noise: float = 3.0,
               seed: int = 0) -> list[np.ndarray]:
    """The portrait centred and still, each frame with fresh sensor noise."""
    width, height = size
    base = _place(_portrait(), width, height, centre=(width / 2, height / 2), scale=height / 512, angle=0.0)
    rng = np.random.default_rng(seed)
    return [np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


def moving_clip(frames: int = 36, size: tuple[int, int] = (640, 480)) -> tuple[list[np.ndarray], np.ndarray]:
    """The portrait panned, zoomed and turned slowly; also the true (x, y) of its centre in every frame."""
    width, height = size
    portrait = _portrait()
    clip, centres = [], []
    for index in range(frames):
        progress = index / max(frames - 1, 1)
        centre = (width * (0.38 + 0.24 * progress), height * (0.5 + 0.04 * np.sin(2 * np.pi * progress)))
        scale = height / 512 * (0.9 + 0.2 * progress)
        angle = 8.0 * np.sin(np.pi * progress)  # degrees
        clip.append(_place(portrait, width, height, centre, scale, angle))
        centres.append(centre)
    return clip, np.asarray(centres, dtype=np.float64)


def _place(image: np.ndarray, width: int, height: int, centre: tuple[float, float], scale: float,
           angle: float) -> np.ndarray:
    """`image` scaled, turned by `angle` degrees about its centre and put with its centre at `centre`."""
    matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), angle, scale)
    matrix[:, 2] += np.asarray(centre) - np.asarray([image.shape[1] / 2, image.shape[0] / 2])
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def write_clip(frames: list[np.ndarray], path: Path, fps: int = 12) -> Path:
    from makeup.video.writer import ClipWriter

    height, width = frames[0].shape[:2]
    with ClipWriter(path, Fraction(fps), width, height) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def made_up_frames(maker, frames: list[np.ndarray], fps: float = 12.0) -> list[np.ndarray]:
    """`frames` through a `FrameMaker`, as a clip at `fps` would be."""
    return [maker.make_up(frame, index / fps) for index, frame in enumerate(frames)]


def flicker(inputs: list[np.ndarray], outputs: list[np.ndarray], threshold: float = 3.0) -> float:
    """Mean frame-to-frame change of (output - input) where makeup is, over the input's own change there."""
    makeup_change, picture_change = [], []
    previous = None
    for source, result in zip(inputs, outputs):
        difference = result.astype(np.float32) - source.astype(np.float32)
        if previous is not None:
            where = (np.abs(difference).max(axis=2) > threshold) | (np.abs(previous[0]).max(axis=2) > threshold)
            if where.sum() > 50:
                makeup_change.append(np.abs(difference - previous[0])[where].mean())
                picture_change.append(np.abs(source.astype(np.float32) - previous[1])[where].mean())
        previous = (difference, source.astype(np.float32))
    if not picture_change:
        return float("nan")
    return float(np.mean(makeup_change) / max(np.mean(picture_change), 1e-6))


def lag(inputs: list[np.ndarray], outputs: list[np.ndarray], centres: np.ndarray, threshold: float = 6.0) -> float:
    """Frames the makeup trails the face: the makeup centroid's offset from where it sits on the face (its mean
    offset from the true centre), projected on the motion and divided by the speed per frame."""
    centroids, kept = [], []
    for index, (source, result) in enumerate(zip(inputs, outputs)):
        weight = np.abs(result.astype(np.float32) - source.astype(np.float32)).max(axis=2)
        weight = np.where(weight > threshold, weight, 0.0)
        if weight.sum() > 0:
            ys, xs = np.indices(weight.shape)
            centroids.append([(xs * weight).sum() / weight.sum(), (ys * weight).sum() / weight.sum()])
            kept.append(index)
    if len(kept) < 4:
        return float("nan")
    centroids, truth = np.asarray(centroids), centres[kept]
    offset = centroids - truth
    error = offset - offset.mean(axis=0)  # the makeup sits below the face's centre: only its drift counts
    velocity = np.gradient(truth, axis=0)
    speed = np.linalg.norm(velocity, axis=1)
    moving = speed > 1e-3
    # behind the face means against the motion: a positive lag
    return float(np.mean(-(error[moving] * velocity[moving]).sum(axis=1) / speed[moving] ** 2))


def steadiness(pipeline, reference, model: str) -> dict[str, Any]:
    """Flicker on both clips and lag on the moving one, with smoothing on and off, and smoothed with the model on
    every other frame ("every2"), for one model."""
    from makeup.video import FrameMaker

    still = still_clip()
    moving, centres = moving_clip()
    figures: dict[str, Any] = {"model": model}
    for label, smoothing, model_every in (("smoothed", True, 1), ("raw", False, 1), ("every2", True, 2)):
        options = {"smoothing": smoothing, "model_every": model_every}
        still_out = made_up_frames(FrameMaker(pipeline, reference, model, **options), still)
        moving_out = made_up_frames(FrameMaker(pipeline, reference, model, **options), moving)
        figures[f"flicker_still_{label}"] = flicker(still, still_out)
        figures[f"flicker_moving_{label}"] = flicker(moving, moving_out)
        figures[f"lag_{label}"] = lag(moving, moving_out, centres)
    return figures


def frame_rate(pipeline, reference, model: str, size: tuple[int, int], frames: int, warmup: int,
               model_every: int = 1) -> dict[str, Any]:
    """End-to-end frames per second through a clip file (decode to encode) and ms per frame per stage."""
    from makeup.video import transfer_video

    clip, _ = moving_clip(frames + warmup, size)
    with tempfile.TemporaryDirectory(prefix="makeup-bench-video-") as folder:
        path = write_clip(clip, Path(folder) / "clip.mp4")
        # warm every path
        transfer_video(pipeline, path, reference, Path(folder) / "warm.mp4", model, model_every=model_every)
        report = transfer_video(pipeline, path, reference, Path(folder) / "out.mp4", model, model_every=model_every)
    return {"model": model, "width": size[0], "height": size[1], "model_every": model_every, "frames": report.frames,
            "fps": report.fps, "ms_per_frame": 1000.0 / report.fps if report.fps else None,
            "stage_ms": report.stage_ms, "made_up": report.made_up, "carried": report.carried,
            "detections": report.detections}


def video_record(models: list[str], device: str = "cpu", device_name: str = "", threads: int = 2,
                 frames: int = 48, warmup: int = 6) -> dict[str, Any]:
    """Frame rates at each of FRAME_SIZES and steadiness, for every model of `models`, in one run; JSON-able."""
    import matplotlib.cbook
    import torch
    from PIL import Image

    from makeup.bench.pipeline import _pipeline

    torch.set_num_threads(threads)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        reference = np.asarray(Image.open(handle).convert("RGB"))
    pipeline = _pipeline(models, device)
    started = time.perf_counter()
    rates = [frame_rate(pipeline, reference, model, size, frames, warmup, every)
             for size in FRAME_SIZES for every in MODEL_EVERY for model in models]
    steady = [steadiness(pipeline, reference, model) for model in models]
    return {"table": "video", "device": device, "device_name": device_name or device, "threads": threads,
            "torch": torch.__version__, "frames": frames, "rates": rates, "steadiness": steady,
            "target": {"model": TARGET_STUDENT, "size": "640x480", "fps": TARGET_FPS},
            "minutes": (time.perf_counter() - started) / 60}


def video_markdown(record: dict[str, Any]) -> str:
    stages = list(record["rates"][0]["stage_ms"])
    lines = [
        f"Video end to end (decode to H.264 encode) on {record['device_name']} ({record['threads']} threads, torch "
        f"{record['torch']}): {record['frames']} frames of a moving-face clip per run, after a warm run; ms per "
        "frame per stage (track: detection every 15 frames, FaceMesh tracking in between; decode and encode run "
        "on their own threads beside the rest). Model every: 1 runs the pair stage and the model on every frame, 2 "
        "on every other one, the frames between wearing the last makeup moved with the tracked face.",
        "",
        "| frame | model | model every | fps | ms/frame | " + " | ".join(stages) + " |",
        "| --- | --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in stages) + " |",
    ]
    for row in record["rates"]:
        lines.append(f"| {row['width']}x{row['height']} | {row['model']} | {row.get('model_every', 1)} | "
                     f"{row['fps']:.1f} | "
                     f"{row['ms_per_frame']:.1f} | " + " | ".join(f"{row['stage_ms'][s]:.1f}" for s in stages) + " |")
    lines += ["", "Steadiness (flicker: 0 is makeup as steady as the face; lag in frames on the moving clip):", "",
              "| model | flicker still, smoothed | raw | model every 2 | flicker moving, smoothed | raw | "
              "model every 2 | lag smoothed | raw | model every 2 |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in record["steadiness"]:
        lines.append(" | ".join([f"| {row['model']}",
                                 *(f"{row[f'flicker_still_{label}']:.3f}" for label in ("smoothed", "raw", "every2")),
                                 *(f"{row[f'flicker_moving_{label}']:.3f}" for label in ("smoothed", "raw", "every2")),
                                 *(f"{row[f'lag_{label}']:.2f}" for label in ("smoothed", "raw", "every2"))]) + " |")
    return "\n".join(lines)
