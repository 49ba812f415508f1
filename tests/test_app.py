"""The app: its handlers called directly (every error path), its catalogue and examples, and the real Gradio
server called through gradio_client as a script would."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from makeup.app import AppLimits, build_app
from makeup.app.catalog import chart_points, default_selection, model_entries
from makeup.app.examples import folder_examples, gather_examples
from makeup.app.handlers import OUTPUT_MODES, SHARED_ROW, TABLE_HEADERS, Handlers
from makeup.transfer import MakeupPipeline
from makeup.weights import UntrainedModelWarning, has_weights

UNTRAINED = "beautygan-concat"  # an architecture without trained weights
needs_mediapipe = pytest.mark.skipif(not __import__("importlib").util.find_spec("mediapipe"),
                                     reason="needs mediapipe (FaceMesh)")


@pytest.fixture(scope="module")
def pipeline() -> MakeupPipeline:
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        return MakeupPipeline(models=[], device="cpu", allow_untrained=True)


@pytest.fixture(scope="module")
def handlers(pipeline) -> Handlers:
    return Handlers(pipeline)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, grace_hopper) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {name: folder / name for name in ("astronaut.png", "grace.jpg", "blank.png", "text.png", "cut.jpg")}
    Image.fromarray(astronaut).save(paths["astronaut.png"])
    Image.fromarray(grace_hopper).save(paths["grace.jpg"])
    Image.new("RGB", (320, 240), (180, 120, 90)).save(paths["blank.png"])
    paths["text.png"].write_text("this is not an image")
    paths["cut.jpg"].write_bytes(paths["grace.jpg"].read_bytes()[:3000])  # an interrupted upload
    return {name.split(".")[0]: str(path) for name, path in paths.items()}


def test_compare_runs_every_model_on_one_detection(handlers, photos, astronaut):
    models = ["beautygan", UNTRAINED] if has_weights("beautygan") else [UNTRAINED, "ddb-student"]
    calls = []
    detector = handlers.pipeline.detector
    original = detector.largest_face
    detector.largest_face = lambda image: calls.append(1) or original(image)
    try:
        comparison = handlers.compare(photos["astronaut"], photos["grace"], models)
    finally:
        detector.largest_face = original
    assert len(calls) == 2  # source and reference, once for all models
    assert list(comparison.results) == models
    for image, caption in comparison.gallery():
        assert image.shape == astronaut.shape  # the photo's full resolution
        assert "ms (cpu)" in caption
    assert "UNTRAINED" in comparison.caption(UNTRAINED) and "random weights" in comparison.notes()
    rows = comparison.table()
    assert [row[0] for row in rows] == [SHARED_ROW, *models] and all(len(row) == len(TABLE_HEADERS) for row in rows)
    detect, pair, model = (TABLE_HEADERS.index(f"{stage} ms") for stage in ("detect", "pair", "model"))
    # the shared stages appear once, in the first row; each model's row holds its own stages
    assert rows[0][detect] > 0 and rows[0][pair] != "" and rows[0][model] == ""
    assert all(row[detect] == "" and row[model] > 0 for row in rows[1:])
    before, after = comparison.before(models[0]), comparison.image(models[0])
    assert np.array_equal(before, astronaut) and not np.array_equal(after, astronaut)
    shown = comparison.detections()
    assert len(shown) == 4 and shown[2][0].shape == (256, 256, 3)


def test_face_crop_output_and_intensity_zero(handlers, photos, astronaut):
    crop = handlers.compare(photos["astronaut"], photos["grace"], [UNTRAINED], output_mode="face crop")
    assert crop.image(UNTRAINED).shape == (256, 256, 3)
    image, info = handlers.transfer(photos["astronaut"], photos["grace"], UNTRAINED, intensity=0.0)
    assert np.array_equal(image, astronaut)  # no makeup at all: the photo comes back untouched
    assert "parameters" in info and "MACs" in info and "ms" in info


@pytest.mark.parametrize(
    ("source", "reference", "models", "options", "message"),
    [
        (None, "grace", [UNTRAINED], {}, "Upload a source face"),
        ("astronaut", None, [UNTRAINED], {}, "Upload a reference face"),
        ("astronaut", "grace", [], {}, "Choose at least one model"),
        ("astronaut", "grace", ["no-such-model"], {}, "Unknown model"),
        ("astronaut", "grace", [UNTRAINED], {"output_mode": "poster"}, "Output must be one of"),
        ("astronaut", "grace", [UNTRAINED], {"intensity": 1.5}, "intensity must be between 0"),
        ("astronaut", "grace", [UNTRAINED], {"parts": []}, "no face part was chosen"),
        ("text", "grace", [UNTRAINED], {}, "source image"),
        ("astronaut", "cut", [UNTRAINED], {}, "reference image"),
        ("blank", "grace", [UNTRAINED], {}, "No face was found in the source image"),
        ("astronaut", "blank", [UNTRAINED], {}, "No face was found in the reference image"),
        ("astronaut", "missing", [UNTRAINED], {}, "reference image"),
    ],
)
def test_every_error_is_a_readable_message_naming_the_photo(handlers, photos, source, reference, models, options,
                                                             message):
    path = {**photos, "missing": "/nonexistent/photo.png", None: None}
    with pytest.raises(gr.Error, match=message) as caught:
        handlers.compare(path[source], path[reference], models, **options)
    assert "Traceback" not in str(caught.value)


def test_an_unexpected_failure_is_logged_and_summarised(handlers, photos, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory in a kernel")

    monkeypatch.setattr(handlers.pipeline, "transfer_pair", broken)
    with pytest.raises(gr.Error, match="failed unexpectedly \\(RuntimeError\\)") as caught:
        handlers.compare(photos["astronaut"], photos["grace"], [UNTRAINED])
    assert "kernel" not in str(caught.value)  # internals stay in the log
    assert "out of memory in a kernel" in caplog.text


def test_time_limit_skips_the_models_not_yet_started(pipeline, photos):
    handlers = Handlers(pipeline, AppLimits(time_limit_s=0.0))
    comparison = handlers.compare(photos["astronaut"], photos["grace"], [UNTRAINED, "ddb-student", "slim-m"])
    assert list(comparison.results) == [UNTRAINED]  # the first always runs
    assert comparison.skipped == ["ddb-student", "slim-m"]
    assert "time limit" in comparison.notes() and "ddb-student, slim-m" in comparison.notes()


@needs_mediapipe
def test_partial_makeup_through_the_handler(handlers, photos):
    full = handlers.compare(photos["astronaut"], photos["grace"], ["classical"], output_mode="face crop")
    lips = handlers.compare(photos["astronaut"], photos["grace"], ["classical"], parts=["lips"],
                            output_mode="face crop")
    source = full.before("classical").astype(int)
    moved_full = np.abs(full.image("classical").astype(int) - source).max(axis=2) > 8
    moved_lips = np.abs(lips.image("classical").astype(int) - source).max(axis=2) > 8
    assert 0 < moved_lips.sum() < 0.6 * moved_full.sum()


def test_models_without_weights_are_offered_only_on_request():
    offered = model_entries()
    assert all(entry.trained for entry in offered)
    assert {"classical", "example"} <= {entry.name for entry in offered}
    assert UNTRAINED not in {entry.name for entry in offered}
    everything = {entry.name: entry for entry in model_entries(include_untrained=True)}
    assert "UNTRAINED" in everything[UNTRAINED].label
    assert all(name in everything for name in default_selection(offered))
    if has_weights("beautygan"):
        teacher = everything["beautygan"]
        assert "9.24 M params" in teacher.label and f"{teacher.gmacs:.2f} GMACs" in teacher.label


def test_new_weights_appear_without_code_changes(tmp_path):
    from makeup.models import create_model
    from makeup.weights import save_weights

    assert UNTRAINED not in {entry.name for entry in model_entries(tmp_path)}
    save_weights(create_model(UNTRAINED), UNTRAINED, tmp_path, metrics={"synthetic": {"psnr": 30.0}})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["benchmarks"] = {"cpu": {"ms": {UNTRAINED: 20.0}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert UNTRAINED in {entry.name for entry in model_entries(tmp_path)}
    points = [(point.model, point.latency_ms, point.psnr) for point in chart_points(tmp_path)]
    assert points == [(UNTRAINED, 20.0, 30.0)]


def test_shipped_chart_has_the_teacher_and_the_baselines():
    names = {point.model for point in chart_points()}
    assert {"classical", "example"} <= names
    assert ("beautygan" in names) == has_weights("beautygan")


def test_example_folder_is_confined(tmp_path, astronaut):
    root, outside = tmp_path / "faces", tmp_path / "secret"
    root.mkdir()
    outside.mkdir()
    Image.fromarray(astronaut).save(root / "a.png")
    Image.fromarray(astronaut).save(outside / "b.png")
    (root / "notes.txt").write_text("not an image")
    (root / "link.png").symlink_to(outside / "b.png")
    assert folder_examples(root).sources == [str(root / "a.png")]
    (root / "manifest.csv").write_text(
        "image,kind\na.png,non-makeup\n../secret/b.png,makeup\nlink.png,makeup\n/etc/passwd,makeup\n")
    confined = folder_examples(root)
    assert confined.sources == [str(root / "a.png")] and confined.references == []


def test_examples_include_public_domain_faces_and_a_named_folder(pipeline, tmp_path, astronaut):
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "me.jpg")
    examples = gather_examples(pipeline.prepare, with_looks=False, cache_dir=tmp_path / "cache",
                               environ={"MAKEUP_EXAMPLE_FACES": str(folder)})
    names = [Path(path).name for path in examples.sources]
    assert names[:2] == ["astronaut.png", "grace-hopper.png"] and "me.jpg" in names
    assert np.array_equal(np.asarray(Image.open(examples.sources[0])), astronaut)


@needs_mediapipe
def test_preset_looks_are_painted_on_the_public_domain_faces(pipeline, tmp_path, astronaut):
    examples = gather_examples(pipeline.prepare, with_looks=True, cache_dir=tmp_path, environ={})
    painted = [path for path in examples.references if Path(path).name == "astronaut-classic-red.png"]
    assert painted
    difference = np.abs(np.asarray(Image.open(painted[0])).astype(int) - astronaut).max(axis=2)
    assert 200 < (difference > 10).sum() < 0.1 * difference.size  # made up, and only on the face


# --- the real server, through gradio_client -------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(pipeline, tmp_path_factory):
    from gradio_client import Client

    app = build_app(pipeline, examples_dir=tmp_path_factory.mktemp("examples"))
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **AppLimits().launch_options())
    try:
        yield Client(app.local_url, verbose=False)
    finally:
        app.close()


def test_api_transfer_returns_the_photo_at_full_size_and_its_figures(client, photos, astronaut):
    from gradio_client import handle_file

    image_path, info = client.predict(handle_file(photos["astronaut"]), handle_file(photos["grace"]),
                                      model=UNTRAINED, api_name="/transfer")
    assert np.asarray(Image.open(image_path).convert("RGB")).shape == astronaut.shape
    assert "parameters" in info and "MACs" in info and "ms" in info
    assert "no trained weights" in info  # random weights are never passed off as a model


def test_api_compare_returns_one_captioned_image_per_model(client, photos, astronaut):
    from gradio_client import handle_file

    models = [name for name in ("beautygan", "example", "classical") if name in
              {entry.name for entry in model_entries()}][:2]
    if "classical" in models and not __import__("importlib").util.find_spec("mediapipe"):
        models.remove("classical")
    gallery, table = client.predict(handle_file(photos["astronaut"]), handle_file(photos["grace"]), models=models,
                                    output=OUTPUT_MODES[1], api_name="/compare")
    assert [item["caption"].split(" · ")[0] for item in gallery] == models
    assert all(np.asarray(Image.open(item["image"])).shape == (256, 256, 3) for item in gallery)
    assert [row[0] for row in table["data"]] == [SHARED_ROW, *models] and table["headers"] == TABLE_HEADERS


def test_api_bad_upload_gives_the_readable_error(client, photos):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="source image") as caught:
        client.predict(handle_file(photos["text"]), handle_file(photos["grace"]), model=UNTRAINED,
                       api_name="/transfer")
    assert "Traceback" not in str(caught.value)
    with pytest.raises(Exception, match="No face was found in the reference image"):
        client.predict(handle_file(photos["astronaut"]), handle_file(photos["blank"]), model=UNTRAINED,
                       api_name="/transfer")


def test_without_mediapipe_the_app_still_runs_and_says_what_needs_it(pipeline, photos, monkeypatch, tmp_path):
    import sys

    import makeup.app.catalog as catalog
    import makeup.app.ui as ui
    import makeup.regions as regions

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` now fails as if it were absent
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions", None)
    monkeypatch.setattr(regions, "_MESH", None)
    monkeypatch.setattr(catalog, "mediapipe_available", lambda: False)
    monkeypatch.setattr(ui, "mediapipe_available", lambda: False)
    labels = {entry.name: entry.label for entry in model_entries()}
    assert "needs mediapipe" in labels["classical"] and "needs mediapipe" in labels["example"]
    assert "example" not in default_selection(model_entries())
    app = build_app(pipeline, examples_dir=tmp_path)  # no painted looks, still a page
    parts = [block for block in app.blocks.values() if getattr(block, "label", None) == "Face parts"]
    assert parts and parts[0].interactive is False and "mediapipe" in parts[0].info
    handlers = Handlers(pipeline)
    image, _ = handlers.transfer(photos["astronaut"], photos["grace"], UNTRAINED)  # networks need no FaceMesh
    assert image.ndim == 3
    with pytest.raises(gr.Error, match="mediapipe"):
        handlers.compare(photos["astronaut"], photos["grace"], ["classical"])
    with pytest.raises(gr.Error, match="mediapipe"):
        handlers.compare(photos["astronaut"], photos["grace"], [UNTRAINED], parts=["lips"])


def test_the_api_never_reads_a_file_outside_the_upload_cache(client, photos, tmp_path):
    """A client that names a server path instead of uploading a file is refused; the file is never read."""
    import httpx

    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save(secret)
    for path in (str(secret), "/etc/passwd", "../../../../etc/passwd"):
        forged = {"path": path, "meta": {"_type": "gradio.FileData"}}
        base = client.src.rstrip("/")
        started = httpx.post(f"{base}/gradio_api/call/transfer",
                             json={"data": [forged, forged, UNTRAINED, 1.0, ["lips", "eyes", "skin"], "full photo"]})
        if started.status_code != 200:  # refused before it was queued
            continue
        event_id = started.json()["event_id"]
        stream = httpx.get(f"{base}/gradio_api/call/transfer/{event_id}", timeout=60).text
        assert "event: error" in stream and "event: complete" not in stream, stream[:500]
    # the same call with a file that went through the upload cache works: the refusals above are about the path
    with open(photos["astronaut"], "rb") as handle:
        uploaded = httpx.post(f"{base}/gradio_api/upload", files={"files": handle}).json()[0]
    good = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    started = httpx.post(f"{base}/gradio_api/call/transfer",
                         json={"data": [good, good, UNTRAINED, 1.0, ["lips", "eyes", "skin"], "full photo"]})
    stream = httpx.get(f"{base}/gradio_api/call/transfer/{started.json()['event_id']}", timeout=60).text
    assert "event: complete" in stream, stream[:500]


def test_an_upload_over_the_size_limit_is_refused_before_it_is_stored(client, photos, tmp_path):
    from gradio_client import handle_file

    large = tmp_path / "large.png"
    large.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * 2**20))  # 21 MB; the limit is 20 MB
    with pytest.raises(Exception, match="(?i)too large|file size|exceeds"):
        client.predict(handle_file(large), handle_file(photos["grace"]), model=UNTRAINED, api_name="/transfer")


def test_api_video_makes_up_an_uploaded_clip_and_refuses_a_bad_one(client, photos, tmp_path, astronaut):
    """The Video tab's endpoint: a short clip comes back made up as mp4 with the same frames; a file that is not a
    video gets the readable message."""
    pytest.importorskip("av")
    pytest.importorskip("mediapipe")
    from gradio_client import handle_file

    from clips import portrait_frames, write_mp4  # tests/ is on sys.path under pytest
    from makeup.video import probe

    clip = write_mp4(tmp_path / "clip.mp4", portrait_frames(astronaut, 6), tone_seconds=0.5)
    video, note = client.predict(handle_file(str(clip)), handle_file(photos["grace"]), "slim-s", 1.0,
                                 api_name="/video")
    path = video["video"] if isinstance(video, dict) else video
    assert probe(path).frames == 6 and probe(path).has_audio
    assert "6 frames (6 made up" in note
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(Exception, match="not a video"):
        client.predict(handle_file(str(bad)), handle_file(photos["grace"]), "slim-s", 1.0, api_name="/video")
