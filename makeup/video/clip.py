"""Reading video clips with PyAV: what a clip holds, checked before any frame is decoded, and its frames upright.

Every problem a user's clip can have is a `VideoError` that says what is wrong and what to do: not a video, no
video stream, no frames, cut short, frames or clip too large, sides H.264 cannot encode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from makeup.errors import InputImageError

DEFAULT_MAX_SECONDS = 60.0  # a clip longer than this is refused unless the caller raises the limit
DEFAULT_MAX_FRAME_PIXELS = 1920 * 1080  # Full HD; 4K frames cost four times as much for a face that is no sharper


class VideoError(InputImageError):
    """A clip that cannot be used; the message says why and what to do."""


class NotAVideoError(VideoError):
    pass


class NoVideoStreamError(VideoError):
    pass


class EmptyVideoError(VideoError):
    pass


class TruncatedVideoError(VideoError):
    pass


class VideoTooLargeError(VideoError):
    pass


class VideoTooLongError(VideoError):
    pass


class OddSizeError(VideoError):
    pass


@dataclass(frozen=True)
class ClipInfo:
    """What a clip holds, read from its header: the video stream as shown (rotation applied) and its audio."""

    path: Path
    width: int  # as shown, after rotation
    height: int
    fps: Fraction
    frames: int  # counted from the header where it says, else estimated from the duration
    seconds: float
    rotation: int  # degrees the stored frames are turned to be shown upright (0, 90, 180, 270)
    has_audio: bool
    frames_known: bool = False  # the header counts the frames (else `frames` is estimated)


def require_av():
    """PyAV, or an ImportError that says how to install it."""
    try:
        import av
    except ImportError as error:
        raise ImportError("video needs PyAV: pip install 'makeup[video]' (or the app extra)") from error
    return av


def probe(path: str | os.PathLike, max_seconds: float = DEFAULT_MAX_SECONDS,
          max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS) -> ClipInfo:
    """Open `path` and check it can be made up, before decoding it whole. Raises a VideoError."""
    av = require_av()

    path = Path(path)
    if not path.is_file():
        raise NotAVideoError(f"{path} does not exist or is not a file.")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise NotAVideoError(f"{path.name} is not a video that can be read ({getattr(error, 'strerror', '') or error}):"
                             " not a video at all, or one cut short before its index. Use an mp4, mov, webm or gif "
                             "file.") from error
    with container:
        if not container.streams.video:
            raise NoVideoStreamError(f"{path.name} has no video stream (audio only?). Use a clip with pictures.")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        seconds = _duration(container, stream)
        header_frames = stream.frames
        frames = header_frames or (int(round(seconds * float(fps))) if fps and seconds else 0)
        rotation = _rotation(container, stream)
        has_audio = bool(container.streams.audio)
    if not width or not height or not fps:
        raise EmptyVideoError(f"{path.name} holds no frames (size or frame rate unknown). Use another clip.")
    if rotation in (90, 270):
        width, height = height, width
    if width * height > max_frame_pixels:
        raise VideoTooLargeError(
            f"{path.name} has {width}x{height} frames ({width * height / 1e6:.1f} megapixels); at most "
            f"{max_frame_pixels / 1e6:.1f} are taken. Scale the clip down (a face needs no 4K).")
    if seconds > max_seconds:
        raise VideoTooLongError(f"{path.name} is {seconds:.1f} s long; at most {max_seconds:.0f} s are taken. "
                                "Cut it shorter, or raise the limit (--max-seconds).")
    if width % 2 or height % 2:
        raise OddSizeError(f"{path.name} is {width}x{height}: H.264 (the output's codec) needs even sides. Crop "
                           f"or scale it to {width - width % 2}x{height - height % 2}.")
    return ClipInfo(path, width, height, Fraction(fps), int(frames), float(seconds), rotation, has_audio,
                    frames_known=bool(header_frames))


def read_frames(info: ClipInfo) -> Iterator[tuple[np.ndarray, float]]:
    """Each frame of the clip as an upright HxWx3 uint8 RGB array, with its time in seconds. Raises
    TruncatedVideoError when the file ends early or a frame cannot be decoded, EmptyVideoError without frames."""
    import av

    count = 0
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                image = frame.to_ndarray(format="rgb24")
                if info.rotation:
                    image = np.ascontiguousarray(np.rot90(image, k=info.rotation // 90))
                count += 1
                yield image, float(frame.time if frame.time is not None else (count - 1) / info.fps)
    except av.error.FFmpegError as error:
        raise TruncatedVideoError(f"{info.path.name} could not be read past frame {count} ({error}); the file "
                                  "is damaged or was cut short. Export or download it again.") from error
    if count == 0:
        raise EmptyVideoError(f"{info.path.name} holds no frames that can be decoded. Use another clip.")
    if info.frames_known and count < info.frames:
        raise TruncatedVideoError(f"{info.path.name} ends at frame {count} of the {info.frames} its header "
                                  "announces: the file was cut short. Export or download it again.")


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base
    return 0.0


def _rotation(container, stream) -> int:
    """Degrees counter-clockwise that turn the stored frames upright, from the display matrix of the first frame
    (or the legacy `rotate` tag), as a multiple of 90."""
    tag = stream.metadata.get("rotate")
    if tag is not None:
        try:
            return (-int(float(tag))) % 360  # the tag is clockwise
        except ValueError:
            return 0
    try:
        frame = next(container.decode(stream))
    except (StopIteration, Exception):  # an undecodable first frame shows up when the frames are read
        return 0
    rotation = int(round(getattr(frame, "rotation", 0) or 0))
    return (round(rotation / 90) * 90) % 360
