"""The app's page: `build_app(pipeline)` lays it out and wires it to `Handlers`; `demo/app.py` launches it.

Named API endpoints for `gradio_client`: `/transfer` (one model: image, figures) and `/compare` (several: a
gallery of captioned images and the table of figures).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from makeup.app.catalog import chart_points, default_selection, live_default, mediapipe_available, model_entries
from makeup.app.examples import gather_examples
from makeup.app.handlers import OUTPUT_MODES, TABLE_HEADERS, Comparison, Handlers
from makeup.app.limits import AppLimits
from makeup.app.live import LiveHandlers
from makeup.partial import PARTIAL_REGIONS
from makeup.transfer import MakeupPipeline

INTRO = """# Makeup transfer: the teacher, its students and two classical methods side by side
Upload a face (**source**) and a face wearing makeup (**reference**), tick the models to compare and press
**Transfer**. Faces are found with MTCNN, aligned, made up by each model and pasted back into the photo at its
full resolution. Uploaded photos are used for the transfer only: they are not logged, and Gradio's cache deletes
them within the hour."""

NO_MEDIAPIPE = ("Partial makeup and the classical methods need FaceMesh (mediapipe 0.10.21), which is not "
                "installed here: `pip install mediapipe==0.10.21`, or install the package with `.[app]`.")


def photo_input(**options) -> gr.Image:
    """A photo input that hands the pipeline the uploaded file untouched.

    gr.Image would open every upload with Pillow first: a broken or hostile file then fails inside Gradio with
    an unreadable error, and a huge one is decoded before any limit is checked. The pipeline's loader reads it
    instead: pixel count from the header, EXIF rotation, every mode, and a message naming the photo at fault.
    (Overridden on the instance: a gr.Image subclass would make Gradio write a .pyi file into the package.)
    """
    image = gr.Image(type="filepath", image_mode=None, format="png", sources=["upload", "webcam", "clipboard"],
                     **options)

    def uploaded_file(payload):
        if payload is not None and payload.path is not None:
            return str(payload.path)
        return gr.Image.preprocess(image, payload)

    image.preprocess = uploaded_file
    return image


def build_app(pipeline: MakeupPipeline, limits: AppLimits | None = None, weights_dir: str | Path | None = None,
              examples_dir: Path | None = None) -> gr.Blocks:
    """The app's page on `pipeline` (built once per process, so MTCNN and the models load once).

    Launch it with `app.launch(**limits.launch_options())` for the upload limit. `weights_dir`: where the
    offered models' figures are read (default: the pipeline's)."""
    limits = limits or AppLimits()
    weights_dir = weights_dir if weights_dir is not None else pipeline.weights_dir
    handlers = Handlers(pipeline, limits, weights_dir)
    with_mediapipe = mediapipe_available()
    broken = getattr(pipeline, "broken", {})
    everything = model_entries(weights_dir, include_untrained=True, exclude=broken)
    trained = [entry for entry in everything if entry.trained]  # networks with weights, classical methods
    examples = gather_examples(pipeline.prepare, with_looks=with_mediapipe, cache_dir=examples_dir)

    sweep = (limits.cache_sweep_s, limits.cache_lifetime_s)
    with gr.Blocks(title="makeup: makeup transfer", delete_cache=sweep) as app:
        gr.Markdown(INTRO)
        if broken:
            # the reason's details (paths, checksums) go to the server log, not to a public page
            gr.Markdown("**Not offered, their weights could not be loaded** (details in the server log): " +
                        ", ".join(f"`{name}` ({type(error).__name__})" for name, error in broken.items()),
                        elem_id="broken-weights")
        with gr.Tab("Photo", id="photo"):
            with gr.Row():
                with gr.Column():
                    source = photo_input(label="Source face", elem_id="source", height=320)
                    if examples.sources:
                        gr.Examples(examples.sources, inputs=source, label="Example sources", examples_per_page=8)
                with gr.Column():
                    reference = photo_input(label="Reference makeup", elem_id="reference", height=320)
                    if examples.references:
                        gr.Examples(examples.references, inputs=reference, label="Example references",
                                    examples_per_page=8)
            models = gr.CheckboxGroup(choices=[(entry.label, entry.name) for entry in trained], elem_id="models",
                                      value=default_selection(trained), label="Models")
            show_untrained = gr.Checkbox(False, label="Also list models without trained weights (their output is noise)")
            with gr.Row():
                intensity = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Intensity")
                parts = gr.CheckboxGroup(list(PARTIAL_REGIONS), value=list(PARTIAL_REGIONS), label="Face parts",
                                         info="make up only these parts" if with_mediapipe else NO_MEDIAPIPE,
                                         interactive=with_mediapipe)
                output_mode = gr.Radio(list(OUTPUT_MODES), value=OUTPUT_MODES[0], label="Output")
            button = gr.Button("Transfer", variant="primary")
            notes = gr.Markdown()
            crops = gr.Gallery(label="Face crops side by side: the source, then each model", format="png",
                               columns=4, height="auto", object_fit="contain", elem_id="crops")
            gallery = gr.Gallery(label="Results (full resolution; download as PNG)", format="png", columns=3,
                                 height="auto", object_fit="contain", buttons=["download", "fullscreen"],
                                 elem_id="results")
            with gr.Row():
                slider_model = gr.Dropdown(choices=[], label="Before / after for", scale=1)
                slider = gr.ImageSlider(label="Before / after", format="png", scale=3, max_height=420, elem_id="slider")
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Figures of this run", interactive=False)
            chart = _chart(weights_dir)
            if chart is not None:
                # from 0 ms and with room around the points: the fastest and the best model sit on the edges otherwise
                psnr = chart["PSNR (dB)"]
                gr.ScatterPlot(chart, x="CPU latency (ms)", y="PSNR (dB)", color="model",
                               title="Latency against quality (shipped figures: CPU latency per crop, test-split PSNR)",
                               tooltip=["model", "CPU latency (ms)", "PSNR (dB)", "GMACs"], height=300,
                               x_lim=[0, float(chart["CPU latency (ms)"].max()) * 1.1],
                               y_lim=[float(psnr.min()) - 0.5, float(psnr.max()) + 0.5])
            with gr.Accordion("Detected faces and aligned crops", open=False):
                detections = gr.Gallery(label="Detections", format="png", columns=4, height="auto")
            # the last comparison, for the slider; full-resolution images, so it is dropped after a while
            results = gr.State(None, time_to_live=limits.cache_sweep_s)

            def run(source_path, reference_path, names, amount, chosen_parts, mode):
                comparison = handlers.compare(source_path, reference_path, names, amount, _parts(chosen_parts), mode)
                first = next(iter(comparison.results))
                return (comparison.crops(), comparison.gallery(), comparison.table(), comparison.notes(),
                        gr.Dropdown(choices=list(comparison.results), value=first),
                        (comparison.before(first), comparison.image(first)), comparison.detections(), comparison)

            def pick_slider(name, comparison: Comparison | None):
                if comparison is None or name not in comparison.results:
                    return None
                return comparison.before(name), comparison.image(name)

            def list_models(untrained: bool, chosen):
                entries = everything if untrained else trained
                names = {entry.name for entry in entries}
                return gr.CheckboxGroup(choices=[(entry.label, entry.name) for entry in entries],
                                        value=[name for name in chosen or [] if name in names])

            button.click(run, [source, reference, models, intensity, parts, output_mode],
                         [crops, gallery, table, notes, slider_model, slider, detections, results],
                         api_visibility="private", concurrency_limit=limits.concurrency, concurrency_id="models")
            slider_model.change(pick_slider, [slider_model, results], slider, api_visibility="private")
            show_untrained.change(list_models, [show_untrained, models], models, api_visibility="private")

        live = LiveHandlers(pipeline, limits)
        with gr.Tab("Live", id="live"):
            _live_tab(live, trained, examples, limits)
        with gr.Tab("Video", id="video"):
            _video_tab(live, trained, examples, limits)

        # API-only endpoints: the same work, for scripts (gradio_client)
        api_model = gr.Dropdown(choices=[entry.name for entry in everything], value=default_selection(trained)[0]
                                if trained else None, visible=False)
        api_image = gr.Image(type="numpy", format="png", visible=False)
        api_info = gr.Markdown(visible=False)
        api_table = gr.Dataframe(headers=TABLE_HEADERS, visible=False)
        api_gallery = gr.Gallery(format="png", visible=False)

        # the parameter names are what gradio_client shows: keep them plain
        def transfer(source, reference, model, intensity, parts, output):
            """One model: the made-up photo (or face crop) and its figures as markdown."""
            return handlers.transfer(source, reference, model, intensity, _parts(parts), output)

        def compare(source, reference, models, intensity, parts, output):
            """Several models on the same pair: captioned images and the table of figures."""
            comparison = handlers.compare(source, reference, models, intensity, _parts(parts), output)
            return comparison.gallery(), comparison.table()

        transfer_button = gr.Button(visible=False)
        compare_button = gr.Button(visible=False)
        transfer_button.click(transfer, [source, reference, api_model, intensity, parts, output_mode],
                              [api_image, api_info], api_name="transfer", concurrency_limit=limits.concurrency,
                              concurrency_id="models")
        compare_button.click(compare, [source, reference, models, intensity, parts, output_mode],
                             [api_gallery, api_table], api_name="compare", concurrency_limit=limits.concurrency,
                             concurrency_id="models")
    app.queue(max_size=limits.queue_size, default_concurrency_limit=limits.concurrency)
    return app


LIVE_INTRO = """Make up your camera's picture as it streams: choose a reference look once, then start the camera. The
rate below is what this server achieves; on a free CPU Space the network, not the model, sets it. One stream is
served at a time, for at most {minutes:.0f} minutes."""


def _reference_picker(elem_id: str, examples) -> gr.Image:
    """A reference photo input with the example references below it (the Live and Video tabs)."""
    reference = photo_input(label="Reference makeup", elem_id=elem_id, height=240)
    if examples.references:
        gr.Examples(examples.references, inputs=reference, label="Example references", examples_per_page=8)
    return reference


def _live_tab(live: LiveHandlers, trained, examples, limits: AppLimits) -> None:
    gr.Markdown(LIVE_INTRO.format(minutes=limits.live_time_limit_s / 60))
    networks = [entry for entry in trained if entry.kind != "classical"]
    with gr.Row():
        camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera", elem_id="camera")
        made_up = gr.Image(label="Made up", type="numpy", elem_id="live-output", streaming=True)
    with gr.Row():
        with gr.Column():
            reference = _reference_picker("live-reference", examples)
        with gr.Column():
            model = gr.Dropdown(choices=[(entry.label, entry.name) for entry in networks],
                                value=live_default(networks), label="Model", elem_id="live-model")
            intensity = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Intensity")
            rate = gr.Markdown("Start the camera to see the rate.", elem_id="live-rate")
    session = gr.State(None, time_to_live=limits.live_time_limit_s)
    camera.stream(live.frame, [camera, reference, model, intensity, session], [made_up, rate, session],
                  stream_every=0.1, time_limit=limits.live_time_limit_s, concurrency_limit=1, concurrency_id="live",
                  api_visibility="private")


def _video_tab(live: LiveHandlers, trained, examples, limits: AppLimits) -> None:
    gr.Markdown(f"Upload a short clip (at most {limits.max_clip_seconds:.0f} s, Full HD): every frame is made up, the "
                "face tracked between detections, and the clip comes back as mp4 with its sound.")
    networks = [entry for entry in trained if entry.kind != "classical"]
    with gr.Row():
        clip = gr.Video(sources=["upload"], label="Clip", elem_id="clip")
        with gr.Column():
            reference = _reference_picker("video-reference", examples)
    with gr.Row():
        model = gr.Dropdown(choices=[(entry.label, entry.name) for entry in networks], value=live_default(networks),
                            label="Model", elem_id="video-model")
        intensity = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Intensity")
    button = gr.Button("Make up the clip", variant="primary", elem_id="video-button")
    result = gr.Video(label="Made up (mp4)", elem_id="video-output")
    note = gr.Markdown(elem_id="video-note")

    def make_up(clip_path, reference_path, name, amount, progress=gr.Progress()):
        return live.clip(clip_path, reference_path, name, amount, progress)

    button.click(make_up, [clip, reference, model, intensity], [result, note], api_name="video",
                 concurrency_limit=limits.concurrency, concurrency_id="models")


def _parts(chosen) -> list[str] | None:
    """The face parts to keep, or None for the whole look (all ticked, or left out by an API caller)."""
    if chosen is None or set(chosen) == set(PARTIAL_REGIONS):
        return None
    return list(chosen)


def _chart(weights_dir) -> pd.DataFrame | None:
    points = chart_points(weights_dir)
    if not points:
        return None
    return pd.DataFrame({
        "model": [point.model for point in points],
        "CPU latency (ms)": [point.latency_ms for point in points],
        "PSNR (dB)": [point.psnr for point in points],
        "GMACs": [point.gmacs for point in points],
    })
