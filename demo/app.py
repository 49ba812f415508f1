"""Gradio demo: put the makeup of a reference face onto a source face with the teacher, the students and the
classical methods side by side.

    python demo/app.py [--host 127.0.0.1] [--port 7860] [--device cpu|cuda]

Host and port default to Gradio's own environment variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT), which a
Hugging Face Space sets; the flags override them. The page itself is `makeup.app.build_app`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

# A Hugging Face Space runs this file without installing the package: make the repository importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from makeup.app import AppLimits, build_app, limit_malloc_arenas  # noqa: E402
from makeup.transfer import MakeupPipeline  # noqa: E402

log = logging.getLogger("makeup.demo")


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> argparse.Namespace:
    """The command line, with host and port defaulting to GRADIO_SERVER_NAME / GRADIO_SERVER_PORT when set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (0.0.0.0 to serve the network; default: $GRADIO_SERVER_NAME "
                        "or 127.0.0.1)")
    try:
        port = int(environ.get("GRADIO_SERVER_PORT", "7860"))
    except ValueError:
        parser.error(f"GRADIO_SERVER_PORT must be a port number, got {environ['GRADIO_SERVER_PORT']!r}")
    parser.add_argument("--port", type=int, default=port, help="default: $GRADIO_SERVER_PORT or 7860")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--cache-lifetime", type=int, default=AppLimits.cache_lifetime_s, metavar="SECONDS",
                        help="delete uploads and results from Gradio's cache this long after they were written "
                        "(default: %(default)s)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO)
    limit_malloc_arenas()  # before the server's threads start: keeps memory flat under load
    start = time.perf_counter()
    # every model with trained weights loads now, once per process (a damaged weights file is left out and the
    # page says why); untrained ones only if a user asks
    pipeline = MakeupPipeline(device=args.device, allow_untrained=True, skip_broken=True)
    lifetime = max(1, args.cache_lifetime)
    limits = AppLimits(cache_lifetime_s=lifetime, cache_sweep_s=min(AppLimits.cache_sweep_s, max(1, lifetime // 2)))
    app = build_app(pipeline, limits)
    log.info("face detector and %d model(s) ready on %s in %.1f s", len(pipeline.model_names), pipeline.device,
             time.perf_counter() - start)
    app.launch(server_name=args.host, server_port=args.port, **limits.launch_options())


if __name__ == "__main__":
    main()
