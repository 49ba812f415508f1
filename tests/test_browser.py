"""The app in a real browser: Debian's chromium driven by Playwright uploads two photos, picks two models,
clicks Transfer and waits for both captioned results. The screenshot is kept in test-artifacts/ to look at.

Chromium is a Debian package (`apt-get install chromium`, done by `.ci/run`); without it the test skips, unless
MAKEUP_REQUIRE_BROWSER=1 (set by CI) makes its absence a failure.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from makeup.app import AppLimits, build_app
from makeup.app.catalog import model_entries
from makeup.transfer import MakeupPipeline
from makeup.weights import UntrainedModelWarning

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser_or_skip():
    missing = [what for what, present in ((f"{CHROMIUM} (apt-get install chromium)", Path(CHROMIUM).is_file()),
                                          ("the playwright package (pip install -e '.[dev]')", _has_playwright()))
               if not present]
    if missing:
        if os.environ.get("MAKEUP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test is required but {' and '.join(missing)} is missing")
        pytest.skip(f"no browser here: {' and '.join(missing)} is missing")


def _has_playwright() -> bool:
    import importlib.util

    return importlib.util.find_spec("playwright") is not None


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    _browser_or_skip()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        pipeline = MakeupPipeline(device="cpu", allow_untrained=True)
    app = build_app(pipeline, examples_dir=tmp_path_factory.mktemp("examples"))
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **AppLimits().launch_options())
    try:
        yield app.local_url
    finally:
        app.close()


@pytest.mark.slow
def test_upload_two_photos_compare_two_models_and_see_both_results(app_url, tmp_path, astronaut, grace_hopper):
    from playwright.sync_api import expect, sync_playwright

    source, reference = tmp_path / "astronaut.png", tmp_path / "grace.jpg"
    Image.fromarray(astronaut).save(source)
    Image.fromarray(grace_hopper).save(reference)
    offered = [entry.name for entry in model_entries()]
    # two models that run here: the teacher when it ships, and the classical methods when mediapipe is present
    import importlib.util

    runnable = [name for name in offered
                if importlib.util.find_spec("mediapipe") or name not in ("classical", "example")]
    if len(runnable) < 2:
        pytest.skip("fewer than two models can run here")
    chosen = runnable[:2]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(app_url)
            page.locator("#source input[type=file]").set_input_files(str(source))
            page.locator("#reference input[type=file]").set_input_files(str(reference))
            expect(page.locator("#source img").first).to_be_visible(timeout=30_000)
            expect(page.locator("#reference img").first).to_be_visible(timeout=30_000)
            models = page.locator("#models")
            for box in models.locator("input[type=checkbox]").all():
                box.uncheck()
            for name in chosen:
                models.get_by_label(name, exact=False).first.check()
            page.get_by_role("button", name="Transfer", exact=True).click()
            results = page.locator("#results")
            expect(results.locator("img")).to_have_count(len(chosen), timeout=120_000)
            for name in chosen:
                expect(results.get_by_text(f"{name} · ", exact=False)).to_be_visible()
            expect(page.get_by_text("Detected and paired once for all models")).to_be_visible()
            expect(page.locator("#slider img").first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)  # let the slider and the table finish drawing before the screenshot
            page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "app.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_live_tab_makes_up_the_camera_stream(app_url, tmp_path, astronaut, grace_hopper):
    """Chromium's fake camera streams a y4m clip of the public-domain astronaut into the Live tab; made-up frames
    come back with the server's rate. The screenshot is kept as test-artifacts/live.png."""
    from playwright.sync_api import expect, sync_playwright

    from clips import portrait_frames, write_y4m  # tests/ is on sys.path under pytest
    from makeup.regions import masks_from_image
    from makeup.synth import preset, render

    pytest.importorskip("mediapipe", reason="tracking needs FaceMesh")
    camera = write_y4m(tmp_path / "camera.y4m", portrait_frames(astronaut, 10, size=(640, 480), step=0))
    reference = tmp_path / "look.png"
    Image.fromarray(render(grace_hopper, masks_from_image(grace_hopper), preset("classic-red"))).save(reference)
    flags = [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-video-capture={camera.resolve()}"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(app_url)
            page.get_by_role("tab", name="Live").click()
            page.locator("#live-reference input[type=file]").set_input_files(str(reference))
            expect(page.locator("#live-reference img").first).to_be_visible(timeout=30_000)
            page.get_by_text("Click to Access Webcam").click()
            # record only once the fake camera plays: a stream started before its first frame sends nothing
            page.wait_for_function("() => { const v = document.querySelector('#camera video');"
                                   " return v !== null && v.readyState >= 2; }", timeout=30_000)
            page.get_by_role("button", name="capture photo").click()  # starts the stream
            expect(page.locator("#live-output img").first).to_be_visible(timeout=60_000)
            expect(page.locator("#live-rate")).to_contain_text("frames per second", timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
            shown = page.locator("#live-output img").first.get_attribute("src")
            made_up = page.request.get(shown).body() if shown and shown.startswith("http") else None
        finally:
            browser.close()
    assert made_up and (ARTIFACTS / "live.png").stat().st_size > 10_000
    import io

    import numpy as np

    frame = np.asarray(Image.open(io.BytesIO(made_up)).convert("RGB")).astype(int)
    camera_frame = portrait_frames(astronaut, 1, size=(640, 480), step=0)[0].astype(int)
    assert frame.shape == camera_frame.shape
    # the camera's picture (Gradio's webcam may mirror it), wearing makeup on the face only
    difference = min((np.abs(frame - candidate).max(axis=2) for candidate in (camera_frame, camera_frame[:, ::-1])),
                     key=lambda d: np.median(d))
    assert np.median(difference) < 8
    assert 100 < (difference > 40).sum() < 0.05 * difference.size
