"""Gradio demo: put the makeup of a reference face onto a source face with a model from the zoo.

    python demo/app.py [--host 127.0.0.1] [--port 7860] [--device cpu|cuda]

Host and port default to Gradio's own environment variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT), which a
Hugging Face Space sets; the flags override them.

Models with shipped weights are listed first. Models without trained weights stay selectable so the machinery
can be tried, but they are labelled UNTRAINED and every result they give says so: their output is noise.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import time
from collections.abc import Mapping

import gradio as gr
import numpy as np

from makeup.errors import InputImageError
from makeup.models import get_card, list_models
from makeup.models.working_size import gmacs_at_working_size
from makeup.pipeline import MakeupPipeline
from makeup.weights import WeightsError, has_weights

log = logging.getLogger("makeup.demo")

UNTRAINED = " (UNTRAINED: random weights)"


def model_choices() -> list[tuple[str, str]]:
    """(label, name) for every transfer model: trained networks, then classical methods, then untrained ones."""
    trained = [name for name in list_models("generator") if has_weights(name)]
    untrained = [name for name in list_models("generator") if name not in trained]
    classical = [(f"{name} (no network; needs mediapipe)", name) for name in list_models("classical")]
    return [(name, name) for name in trained] + classical + [(name + UNTRAINED, name) for name in untrained]


def default_model(choices: list[tuple[str, str]]) -> str:
    """The first trained network; else the classical method when its masks can be computed; else the first
    network (untrained, and labelled so)."""
    names = [name for _, name in choices]
    trained = [name for name in names if get_card(name).kind != "classical" and has_weights(name)]
    if trained:
        return trained[0]
    classical = [name for name in names if get_card(name).kind == "classical"]
    if classical and importlib.util.find_spec("mediapipe") is not None:
        return classical[0]
    return next((name for name in names if name not in classical), names[0])


def describe(name: str, result, working_size: int | None = None) -> str:
    """The result's figures as markdown: what ran, how big it is, how long each stage took.

    `working_size`: the crop size the model's weights run at (`makeup.models.working_size`), if not 256."""
    card = get_card(name)
    lines = []
    if not result.trained:
        lines.append(f"**Warning: `{name}` has no trained weights; this output comes from random weights.**\n")
    lines.append(f"**{name}**: {card.method}")
    if card.params:
        gmacs = gmacs_at_working_size(card.gmacs, working_size)
        size = min(working_size or 256, 256)
        where = f"{size}x{size}" if size == 256 else f"{size}x{size}, its training size, inside the 256x256 crop"
        lines.append(f"- parameters: {card.params / 1e6:.3f} M; MACs at {where} (both inputs): {gmacs:.2f} G")
    stages = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in result.timings.items())
    lines.append(f"- time on {result.device}: {stages}")
    return "\n".join(lines)


def build_app(pipeline: MakeupPipeline) -> gr.Blocks:
    """The demo's page, running transfers through `pipeline`."""
    choices = model_choices()

    def run(source_path: str | None, reference_path: str | None, model: str, intensity: float):
        if not source_path or not reference_path:
            raise gr.Error("Upload both a source face and a reference face wearing makeup.")
        try:
            result = pipeline.transfer(source_path, reference_path, model=model, intensity=float(intensity))
        # ImportError: an optional package (mediapipe, for methods that need region masks) is missing; its
        # message says what to install
        except (InputImageError, WeightsError, ValueError, ImportError) as error:
            raise gr.Error(str(error)) from error
        except Exception as error:  # the page must never show a stack trace
            log.exception("transfer failed")
            raise gr.Error(f"The transfer failed unexpectedly ({type(error).__name__}). Try other photos.") from error
        working_size = getattr(pipeline.model(model), "working_size", None)
        return np.ascontiguousarray(result.image), describe(model, result, working_size)

    with gr.Blocks(title="makeup: makeup transfer") as app:
        gr.Markdown(
            "# Makeup transfer\nUpload a face (source) and a face wearing makeup (reference); the model puts the "
            "reference's makeup on the source at the source photo's full resolution."
        )
        with gr.Row():
            source = gr.Image(label="Source face", type="filepath", sources=["upload", "clipboard"])
            reference = gr.Image(label="Reference makeup", type="filepath", sources=["upload", "clipboard"])
            output = gr.Image(label="Result", type="numpy", format="png", interactive=False)
        with gr.Row():
            model = gr.Dropdown(choices=choices, value=default_model(choices), label="Model")
            intensity = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Intensity")
        button = gr.Button("Transfer makeup", variant="primary")
        info = gr.Markdown()
        button.click(run, inputs=[source, reference, model, intensity], outputs=[output, info], api_name="transfer")
    return app


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
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO)
    start = time.perf_counter()
    pipeline = MakeupPipeline(models=[], device=args.device, allow_untrained=True)
    log.info("face detector ready on %s in %.1f s", pipeline.device, time.perf_counter() - start)
    build_app(pipeline).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
