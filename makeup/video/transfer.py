"""A made-up video: every frame of a clip through the tracker and the transfer's stages, written with its audio.

    from makeup.video import transfer_video
    report = transfer_video(pipeline, "clip.mp4", "look.png", "out.mp4", model="slim-s")

The reference is prepared once (detection, alignment, FaceMesh, masks, its lips' colour: the pipeline's reference
cache); per frame the face is tracked (`FaceTracker`), then the pair stage, the model, its finish and the paste
run on it. Frames without a face are written unchanged. The output has the clip's frame count, frame rate and
upright size, H.264 in mp4, and the source's audio copied untouched; it appears only when complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from makeup.classical.correspondence import MESH_POINTS
from makeup.face import paste_back
from makeup.io import ImageSource
from makeup.transfer import MakeupPipeline, PreparedImage
from makeup.video.clip import (
    DEFAULT_MAX_FRAME_PIXELS,
    DEFAULT_MAX_SECONDS,
    ClipInfo,
    probe,
    read_frames,
)
from makeup.video.overlap import WriteBehind, read_ahead
from makeup.video.track import FaceTracker, TrackedFace
from makeup.video.writer import ClipWriter

FRAME_STAGES = ("decode", "track", "pair", "model", "finish", "paste", "encode")

# Clips run the model on every other frame unless told otherwise: on the moving and still benchmark clips the
# carried frames are as steady as the modelled ones (makeup.bench.video: flicker 0.092 against 0.091 still, 0.128
# against 0.131 moving, for slim-s), and at 640x480 on 2 cores slim-s goes from 32 to 37 frames per second, the
# teacher from 5 to 9 (README, Video speed).
DEFAULT_MODEL_EVERY = 2


@dataclass
class VideoReport:
    """What a video transfer did: the clip, frames with and without a face, and ms per frame per stage."""

    clip: ClipInfo
    output: Path
    frames: int = 0
    made_up: int = 0
    carried: int = 0  # of the made-up frames, those that wore the previous frame's makeup
    detections: int = 0
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FRAME_STAGES, 0.0))

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class FrameMaker:
    """Makes up one frame after another for one reference and model: what the CLI, the Video tab and the Live
    tab share. `make_up(frame, seconds)` returns the frame wearing the makeup (the frame itself where no face is
    found) and adds its stage times to `stage_ms`.

    model_every: run the pair stage and the model on every Nth frame only; on the frames between, the last
    makeup (the made-up crop minus its source crop, in the face's own aligned frame) is laid on the newly tracked
    crop, so it moves with the face. 1, the default, runs the model on every frame."""

    def __init__(self, pipeline: MakeupPipeline, reference: ImageSource | PreparedImage, model: str,
                 intensity: float = 1.0, smoothing: bool = True, detect_every: int = 15,
                 model_every: int = 1) -> None:
        self.pipeline = pipeline
        self.model = model
        self.intensity = intensity
        self.model_every = max(1, int(model_every))
        self.reference = pipeline.prepare(reference, "reference")
        pipeline.model(model)
        self.tracker = FaceTracker(pipeline.detector, pipeline.crop_size, detect_every, smoothing,
                                   pipeline.min_face_size, pipeline.min_confidence)
        self.stage_ms: dict[str, float] = dict.fromkeys(FRAME_STAGES, 0.0)
        self.made_up = 0
        self.carried = 0  # frames that wore the previous frame's makeup (model_every > 1)
        self._change: np.ndarray | None = None  # float32, crop-sized: the last made-up crop minus its source
        self._change_landmarks: np.ndarray | None = None  # the crop's landmarks when it was made
        self._since_model = 0

    def make_up(self, frame: np.ndarray, seconds: float) -> np.ndarray:
        start = time.perf_counter()
        tracked = self.tracker.follow(frame, seconds)
        self.stage_ms["track"] += (time.perf_counter() - start) * 1000.0
        if tracked is None:
            self._change = None
            return frame
        self.made_up += 1
        self._since_model += 1
        if self._change is not None and not tracked.detected and self._since_model < self.model_every:
            return self._carry(frame, tracked)
        source = _prepared_frame(frame, tracked)
        pair = self.pipeline.prepare_pair(source, self.reference, [self.model])
        result = self.pipeline.transfer_pair(pair, self.model, self.intensity)
        self.stage_ms["pair"] += pair.ms
        for stage in ("model", "finish", "paste"):
            self.stage_ms[stage] += result.timings[stage]
        if self.model_every > 1:
            self._change = result.made_up_crops[0].astype(np.float32) - result.source_crops[0]
            self._change_landmarks = tracked.landmarks
            self._since_model = 0
        return result.image

    def _carry(self, frame: np.ndarray, tracked: TrackedFace) -> np.ndarray:
        """The frame wearing the last makeup, moved from the face it was made for onto this one (the affine map
        that best takes the one's landmarks to the other's, crop to crop) and pasted back."""
        start = time.perf_counter()
        matrix = _affine_between(self._change_landmarks[:MESH_POINTS], tracked.landmarks[:MESH_POINTS])
        change = cv2.warpAffine(self._change, matrix, self._change.shape[1::-1], flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        made_up = np.clip(tracked.aligned.crop + change, 0, 255).astype(np.uint8)
        image = paste_back(frame, tracked.aligned, made_up)
        self.stage_ms["paste"] += (time.perf_counter() - start) * 1000.0
        self.carried += 1
        return image


def _affine_between(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The 2x3 affine map that takes `points` (N, 2) closest to `targets` (least squares)."""
    design = np.hstack([points, np.ones((len(points), 1), np.float32)]).astype(np.float64)
    solution, *_ = np.linalg.lstsq(design, targets.astype(np.float64), rcond=None)
    return solution.T


def _prepared_frame(frame: np.ndarray, tracked: TrackedFace) -> PreparedImage:
    """The frame as the transfer's stage 1 would have prepared it, with the tracker's (smoothed) landmarks."""
    prepared = PreparedImage(image=frame, role="source", faces=[tracked.face], aligned=[tracked.aligned])
    prepared.memo("landmarks", 0, lambda: tracked.landmarks)
    return prepared


def transfer_video(pipeline: MakeupPipeline, clip: str | os.PathLike, reference: ImageSource, output: str | os.PathLike,
                   model: str, intensity: float = 1.0, smoothing: bool = True, detect_every: int = 15,
                   model_every: int = DEFAULT_MODEL_EVERY, max_seconds: float = DEFAULT_MAX_SECONDS,
                   max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
                   progress: Callable[[int, int], None] | None = None) -> VideoReport:
    """`clip` wearing `reference`'s makeup, written to `output` (mp4). Raises VideoError for a clip that cannot
    be used (checked before any frame is decoded), the pipeline's errors for the reference. progress(done,
    total) is called after every frame. Nothing is left at `output` unless the whole clip was written.
    model_every: see `FrameMaker`."""
    info = probe(clip, max_seconds, max_frame_pixels)
    maker = FrameMaker(pipeline, reference, model, intensity, smoothing, detect_every, model_every)
    report = VideoReport(info, Path(output))
    start = time.perf_counter()

    def timer(stage: str) -> Callable[[float], None]:  # for the decoding and encoding threads
        def add(ms: float) -> None:
            maker.stage_ms[stage] += ms
        return add

    with ClipWriter(output, info.fps, info.width, info.height, audio_from=clip if info.has_audio else None) as writer:
        # the next frame decodes and the previous one encodes while this one is made up
        behind = WriteBehind(writer.write, busy_ms=timer("encode"))
        try:
            with closing(read_ahead(read_frames(info), busy_ms=timer("decode"))) as frames:
                for frame, seconds in frames:
                    behind.write(maker.make_up(frame, seconds))
                    report.frames += 1
                    if progress is not None:
                        progress(report.frames, max(info.frames, report.frames))
            behind.finish()
        except BaseException:
            behind.abandon()
            raise
    report.seconds = time.perf_counter() - start
    report.made_up = maker.made_up
    report.carried = maker.carried
    report.detections = maker.tracker.detections
    report.stage_ms = {stage: ms / max(report.frames, 1) for stage, ms in maker.stage_ms.items()}
    return report
