"""The limits that keep a public app responsive: upload size, queue, time per request, cache lifetime."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppLimits:
    """max_upload: bytes per uploaded file (refused by Gradio before it is stored). The pixel count of a photo
    is checked from its header before decoding (`MakeupPipeline(max_pixels=...)`). queue_size: requests that may
    wait; more are refused with Gradio's queue-full message. Model runs go one at a time per worker (a second
    run would only share the same cores). time_limit_s: once a request has run this long, the models it has
    not started are skipped and named. Uploads and results leave Gradio's cache `cache_lifetime_s` after they
    were written (checked every `cache_sweep_s`)."""

    max_upload: str = "20mb"
    queue_size: int = 16
    concurrency: int = 1
    time_limit_s: float = 60.0
    cache_lifetime_s: int = 3600
    cache_sweep_s: int = 600

    def launch_options(self) -> dict:
        """Keyword arguments for `Blocks.launch`."""
        return {"max_file_size": self.max_upload}
