"""Clips for the video tests, written from the public-domain portraits: mp4 with a tone as audio (PyAV), a
rotated phone-style clip, and y4m files for Chromium's fake camera."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def write_mp4(path: Path, frames: list[np.ndarray], fps: int = 12, tone_seconds: float | None = None,
              rotation: int = 0, codec: str = "libx264", pix_fmt: str = "yuv420p",
              options: dict[str, str] | None = None) -> Path:
    """`frames` (HxWx3 RGB, stored as given) as H.264 mp4 (or `codec` in the container `path`'s suffix names);
    a 440 Hz tone of `tone_seconds` as AAC audio; a display rotation of `rotation` degrees in the stream's side
    data, as phones write it; `options` for the muxer (e.g. movflags=faststart: the index before the data)."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if rotation:
            video.set_display_rotation(rotation)
        audio = container.add_stream("aac", rate=44100) if tone_seconds else None
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = index
            picture.time_base = Fraction(1, fps)
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(44100 * tone_seconds)) / 44100))
            samples = samples.astype(np.float32)[None]
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                                   format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 44100, start
                for packet in audio.encode(chunk):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """`frames` as a YUV4MPEG2 (I420) file, what Chromium's --use-file-for-fake-video-capture streams."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as file:
        file.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode())
        for frame in frames:
            file.write(b"FRAME\n")
            file.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


# the astronaut's head and shoulders (skimage's 512 px portrait): the face fills a third of a small frame
ASTRONAUT_HEAD = (0, 300, 90, 390)


def portrait_frames(portrait: np.ndarray, count: int, size: tuple[int, int] = (320, 240), step: int = 2,
                    head: tuple[int, int, int, int] = ASTRONAUT_HEAD) -> list[np.ndarray]:
    """`count` frames (width, height = `size`) showing the `head` square (y0, y1, x0, x1) of `portrait` as large
    as the frame's shorter side allows, centred, panning `step` pixels per frame."""
    width, height = size
    y0, y1, x0, x1 = head
    side = min(width, height)
    square = cv2.resize(portrait[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_AREA)
    top = (height - side) // 2
    frames = []
    for index in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        left = (width - side) // 2 + (index - count // 2) * step
        visible = slice(max(-left, 0), min(side, width - left))
        frame[top:top + side, max(left, 0):min(left + side, width)] = square[:, visible]
        frames.append(frame)
    return frames
