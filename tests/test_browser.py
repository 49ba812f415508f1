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
