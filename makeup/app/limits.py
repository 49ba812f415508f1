"""The limits that keep a public app responsive: upload size, queue, time per request, cache lifetime."""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

# glibc's mallopt parameter for the number of malloc arenas
_M_ARENA_MAX = -8


@dataclass(frozen=True)
class AppLimits:
    """max_upload: bytes per uploaded file (refused by Gradio before it is stored). The pixel count of a photo
    is checked from its header before decoding (`MakeupPipeline(max_pixels=...)`). queue_size: requests that may
    wait; more are refused with Gradio's queue-full message. Model runs go one at a time per worker (a second
    run would only share the same cores). time_limit_s: once a request has run this long, the models it has
    not started are skipped and named. Uploads and results leave Gradio's cache `cache_lifetime_s` after they
    were written (checked every `cache_sweep_s`). Webcam streams are served one at a time, each for at most
    `live_time_limit_s`; uploaded clips of at most `max_clip_seconds` are made up (longer ones are refused before
    they are decoded)."""

    max_upload: str = "20mb"
    queue_size: int = 16
    concurrency: int = 1
    time_limit_s: float = 60.0
    cache_lifetime_s: int = 3600
    cache_sweep_s: int = 600
    live_time_limit_s: float = 120.0
    max_clip_seconds: float = 20.0

    def launch_options(self) -> dict:
        """Keyword arguments for `Blocks.launch`."""
        return {"max_file_size": self.max_upload}


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process (unless MALLOC_ARENA_MAX is set); True if it was applied.

    A server answers from many threads; glibc gives busy threads arenas of their own (up to 8 per core) and
    photos of ever-different sizes fragment them, so resident memory kept growing under load (20% over 200
    requests in `makeup stress`; 5% with two arenas, at the same latency). Call it before the server starts.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, count))
    except (OSError, AttributeError):  # not glibc (musl, for one): nothing to cap
        return False
