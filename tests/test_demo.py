"""The launcher, `demo/app.py`: its command line, and the real process serving the page as README and Spaces
start it."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

APP_PATH = Path(__file__).resolve().parents[1] / "demo" / "app.py"


def _load_demo_module():
    spec = importlib.util.spec_from_file_location("demo_app", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_and_port_follow_gradio_environment_variables_and_flags_override_them():
    demo = _load_demo_module()
    defaults = demo.parse_args([], environ={})
    assert (defaults.host, defaults.port) == ("127.0.0.1", 7860)
    space = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}  # what a Hugging Face Space sets
    assert (demo.parse_args([], environ=space).host, demo.parse_args([], environ=space).port) == ("0.0.0.0", 7861)
    flags = demo.parse_args(["--host", "127.0.0.1", "--port", "9000"], environ=space)
    assert (flags.host, flags.port) == ("127.0.0.1", 9000)
    with pytest.raises(SystemExit):
        demo.parse_args([], environ={"GRADIO_SERVER_PORT": "http"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_the_launcher_serves_the_page_on_the_port_gradio_names(tmp_path):
    """`python demo/app.py` started from another folder comes up on
    GRADIO_SERVER_PORT and serves the app with its named API endpoints."""
    port = _free_port()
    environment = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                   "XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": ""}
    process = subprocess.Popen([sys.executable, str(APP_PATH)], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, config = time.monotonic() + 180, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
                    config = response.read().decode()
                break
            except OSError:
                time.sleep(1)
        assert process.poll() is None, process.stdout.read()
        assert config is not None, "the app did not answer within 180 s"
        assert "Transfer" in config and '"transfer"' in config and '"compare"' in config
    finally:
        process.terminate()
        process.wait(timeout=30)
