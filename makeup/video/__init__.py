"""Makeup on video: clips read and written with PyAV (the `video` extra), one face tracked between detections
with its landmarks smoothed, every frame through the transfer's stages with the reference prepared once.

`transfer_video` writes a made-up clip; `FrameMaker` makes up frames one by one (the app's webcam stream).
"""

from makeup.video.clip import ClipInfo, VideoError, probe, read_frames
from makeup.video.transfer import FrameMaker, VideoReport, transfer_video

__all__ = ["ClipInfo", "FrameMaker", "VideoError", "VideoReport", "probe", "read_frames", "transfer_video"]
