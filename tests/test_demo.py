"""The demo app on a real Gradio server, called through gradio_client as a user's browser or script would."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

APP_PATH = Path(__file__).resolve().parents[1] / "demo" / "app.py"


def _load_demo_module():
    spec = importlib.util.spec_from_file_location("demo_app", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def client():
    from gradio_client import Client

    demo = _load_demo_module()
    pipeline = demo.MakeupPipeline(models=[], device="cpu", allow_untrained=True)
    app = demo.build_app(pipeline)
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield Client(app.local_url, verbose=False)
    finally:
        app.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, grace_hopper) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {"astronaut": folder / "astronaut.png", "grace": folder / "grace.jpg", "blank": folder / "blank.png"}
    Image.fromarray(astronaut).save(paths["astronaut"])
    Image.fromarray(grace_hopper).save(paths["grace"])
    Image.new("RGB", (320, 240), (180, 120, 90)).save(paths["blank"])
    return paths


def test_transfer_returns_full_resolution_result_with_figures(client, photos, astronaut):
    from gradio_client import handle_file

    image_path, info = client.predict(
        handle_file(photos["astronaut"]), handle_file(photos["grace"]), "slim-s", 1.0, api_name="/transfer"
    )
    result = np.asarray(Image.open(image_path).convert("RGB"))
    assert result.shape == astronaut.shape
    assert "parameters" in info and "MACs" in info and "ms" in info
    # a model without shipped weights must say so, never pass random weights off as a model
    from makeup.weights import has_weights

    assert ("no trained weights" in info) == (not has_weights("slim-s"))


def test_photo_without_face_gives_a_clear_error(client, photos):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="No face was found in the source image"):
        client.predict(
            handle_file(photos["blank"]), handle_file(photos["grace"]), "slim-s", 1.0, api_name="/transfer"
        )


def test_untrained_models_are_labelled_in_the_model_list():
    demo = _load_demo_module()
    from makeup.weights import has_weights

    for label, name in demo.model_choices():
        if not has_weights(name) and demo.get_card(name).kind != "classical":
            assert "UNTRAINED" in label


def test_default_model_is_one_that_runs_here():
    import importlib.util

    from makeup.weights import has_weights

    demo = _load_demo_module()
    trained = [name for name in demo.list_models("generator") if has_weights(name)]
    default = demo.default_model(demo.model_choices())
    if trained:
        assert default == trained[0]
    elif importlib.util.find_spec("mediapipe") is not None:
        assert default == "classical"  # the only method that gives real makeup without trained weights
    else:  # the classical method would only fail for want of mediapipe
        assert demo.get_card(default).kind == "generator"


def test_figures_state_the_macs_of_the_size_the_weights_run_at():
    from types import SimpleNamespace

    demo = _load_demo_module()
    result = SimpleNamespace(trained=True, timings={"model": 12.0}, device="cpu")
    full = demo.describe("beautygan", result)
    small = demo.describe("beautygan", result, working_size=128)  # weights trained at 128 px
    assert "MACs at 256x256 (both inputs): 54.01 G" in full
    assert "128x128" in small and "13.50 G" in small and "54.01" not in small


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
