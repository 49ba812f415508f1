"""Writing a made-up clip: H.264 in mp4 (what every browser plays), the source's audio copied untouched.

The clip is written to a hidden file beside the output and moved into place only when complete: an interrupted
or failed run leaves nothing behind, and never a half-written file under the output's name.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np


class ClipWriter:
    """`with ClipWriter(out, fps, width, height, audio_from=source) as writer: writer.write(frame)`.

    Frames are HxWx3 uint8 RGB of the given (even) size. The audio stream of `audio_from`, when it has one, is
    copied packet by packet (no re-encoding) when the writer closes."""

    def __init__(self, output: str | os.PathLike, fps: Fraction, width: int, height: int,
                 audio_from: str | os.PathLike | None = None, crf: int = 20) -> None:
        self.output = Path(output)
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        self.width, self.height = width, height
        self.audio_from = audio_from
        self.crf = crf
        self.frames = 0
        self._container = None

    def __enter__(self) -> ClipWriter:
        import av

        self.output.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.output.stem}-", suffix=".mp4", dir=self.output.parent)
        os.close(handle)
        self._temporary = Path(name)
        self._container = av.open(str(self._temporary), mode="w", format="mp4")
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._video = stream
        self._audio_in = self._audio_out = None
        if self.audio_from is not None:
            source = av.open(str(self.audio_from))
            if source.streams.audio:
                self._audio_in = source
                self._audio_out = self._container.add_stream_from_template(source.streams.audio[0])
            else:
                source.close()
        return self

    def write(self, frame: np.ndarray) -> None:
        import av

        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"expected a {self.width}x{self.height} RGB frame, got shape {frame.shape}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames
        video_frame.time_base = 1 / self.fps
        for packet in self._video.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if kind is None:
                for packet in self._video.encode():
                    self._container.mux(packet)
                self._copy_audio()
        finally:
            self._container.close()
            if self._audio_in is not None:
                self._audio_in.close()
            if kind is None:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self._temporary, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
                os.replace(self._temporary, self.output)
            else:
                self._temporary.unlink(missing_ok=True)

    def _copy_audio(self) -> None:
        if self._audio_in is None:
            return
        for packet in self._audio_in.demux(self._audio_in.streams.audio[0]):
            if packet.dts is None:  # the demuxer's final flush packet
                continue
            packet.stream = self._audio_out
            self._container.mux(packet)
