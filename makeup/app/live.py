"""The app's moving pictures: webcam frames made up as they stream in, and uploaded clips made up whole.

Both go through `makeup.video`: the reference is prepared once (the pipeline's reference cache), the face is
tracked between detections and its landmarks smoothed. Failures become `gradio.Error` messages, as for photos.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from makeup.app.handlers import readable_errors
from makeup.app.limits import AppLimits
from makeup.transfer import MakeupPipeline
from makeup.video import FrameMaker, transfer_video

_RATE_WINDOW = 20  # frames the shown rate is averaged over


@dataclass
class LiveSession:
    """One webcam stream: its frame maker (tracker and prepared reference) and its recent frame times."""

    maker: FrameMaker
    key: tuple[str, str, float]
    arrivals: list[float] = field(default_factory=list)
    compute_ms: list[float] = field(default_factory=list)

    def rate(self) -> str:
        if len(self.arrivals) < 2:
            return "starting..."
        fps = (len(self.arrivals) - 1) / max(self.arrivals[-1] - self.arrivals[0], 1e-6)
        ms = float(np.median(self.compute_ms))
        return (f"**{fps:.1f} frames per second** come back from the server; **{ms:.0f} ms** of work per frame "
                f"here ({self.maker.model}). Over a network the connection, not the model, sets the rate.")


class LiveHandlers:
    """Webcam frames and uploaded clips, on the app's shared pipeline."""

    def __init__(self, pipeline: MakeupPipeline, limits: AppLimits | None = None) -> None:
        self.pipeline = pipeline
        self.limits = limits or AppLimits()

    def frame(self, frame: np.ndarray | None, reference: str | None, model: str, intensity: float,
              session: LiveSession | None) -> tuple[np.ndarray | None, str, LiveSession | None]:
        """One webcam frame made up (the frame itself where no face is found), the rate, and the session."""
        if frame is None:
            return None, "Waiting for the camera.", session
        if not reference:
            raise gr.Error("Choose a reference face wearing makeup first (upload one or pick an example).")
        key = (reference, model, float(intensity))
        with readable_errors():
            if session is None or session.key != key:
                session = LiveSession(FrameMaker(self.pipeline, reference, model, float(intensity)), key)
            start = time.perf_counter()
            made_up = session.maker.make_up(np.ascontiguousarray(frame[..., :3]), start)
        session.compute_ms = [*session.compute_ms, (time.perf_counter() - start) * 1000.0][-_RATE_WINDOW:]
        session.arrivals = [*session.arrivals, time.perf_counter()][-_RATE_WINDOW:]
        return made_up, session.rate(), session

    def clip(self, clip: str | None, reference: str | None, model: str, intensity: float,
             progress: gr.Progress | None = None) -> tuple[str, str]:
        """An uploaded clip made up whole: the path of the made-up mp4 and what was done."""
        if not clip or not reference:
            missing = "a video clip" if not clip else "a reference face wearing makeup"
            raise gr.Error(f"Upload {missing} first.")
        output = Path(tempfile.mkdtemp(prefix="makeup-video-")) / f"{Path(clip).stem}-made-up.mp4"

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress((done, total), unit="frames", desc="making up the clip")

        with readable_errors():
            result = transfer_video(self.pipeline, clip, reference, output, model, float(intensity),
                                    max_seconds=self.limits.max_clip_seconds, progress=report)
        note = (f"{result.frames} frames ({result.made_up} made up, {result.frames - result.made_up} without a face "
                f"left as they were) at {result.fps:.1f} frames per second with `{model}`; audio copied.")
        return str(output), note
