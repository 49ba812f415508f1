"""The launcher as a test starts it: `demo/app.py` in its own process (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace


@contextmanager
def demo_server(folder: Path, **environ: str):
    """`python demo/app.py` in its own process, started from `folder` on a free port with `environ` added.

    Yields once its /config answers (`.config`; None if it never did, `.process` tells whether it died);
    `.output` holds everything it printed once the block is left."""
    from makeup.bench.stress import free_port, wait_until_up

    port = free_port()
    environment = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                   "XDG_CACHE_HOME": str(folder / "cache"), **environ}
    app = Path(__file__).resolve().parents[1] / "demo" / "app.py"
    process = subprocess.Popen([sys.executable, str(app)], cwd=folder, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    server = SimpleNamespace(process=process, config=None, output="")
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_up(url, process, timeout_s=180)
            with urllib.request.urlopen(url + "config", timeout=5) as response:
                server.config = response.read().decode()
        except RuntimeError:
            pass  # the test's assertions on .process and .config say what went wrong
        yield server
    finally:
        process.terminate()
        server.output = process.communicate(timeout=30)[0]
