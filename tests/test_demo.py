"""The launcher, `demo/app.py`: its command line, and the real process serving the page as README and Spaces
start it."""

from __future__ import annotations

import importlib.util
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


@pytest.mark.slow
def test_the_launcher_serves_the_page_on_the_port_gradio_names(tmp_path):
    """`python demo/app.py` started from another folder comes up on
    GRADIO_SERVER_PORT and serves the app with its named API endpoints."""
    from servers import demo_server  # tests/ is on sys.path under pytest

    with demo_server(tmp_path, PYTHONPATH="") as server:
        assert server.process.poll() is None, server.process.stdout.read()
        assert server.config is not None, "the app did not answer within 180 s"
        assert "Transfer" in server.config and '"transfer"' in server.config and '"compare"' in server.config
