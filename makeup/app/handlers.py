"""The app's event handlers, free of layout: uploaded file paths and control values in, images and figures out.

Every failure a user can cause becomes a `gradio.Error` whose message names the photo at fault and says what to
do; anything unexpected is logged here and shown as a short message, never as a stack trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import gradio as gr
import numpy as np

from makeup.app.catalog import ModelEntry, model_entries
from makeup.app.limits import AppLimits
from makeup.errors import InputImageError
from makeup.partial import check_regions
from makeup.transfer import SHARED_STAGES, STAGES, MakeupPipeline, TransferResult
from makeup.transfer.pipeline import check_intensity
from makeup.weights import WeightsError

log = logging.getLogger("makeup.app")

OUTPUT_MODES = ("full photo", "face crop")
TABLE_HEADERS = ["model", "params (M)", "GMACs", "GFLOPs", *(f"{s} ms" for s in STAGES), "total ms", "device"]
SHARED_ROW = "shared by all"  # the table's first row: the stages that ran once for every model
_PREVIEW_SIDE = 768  # detection previews are shown downscaled


def on_accelerator(function: Callable) -> Callable:
    """`function` wrapped in `spaces.GPU` on Hugging Face ZeroGPU hardware (when the `spaces` package is
    installed), unchanged elsewhere."""
    try:
        import spaces
    except ImportError:
        return function
    return spaces.GPU(function)


@dataclass
class Comparison:
    """One pair of photos run through several models, detected once."""

    results: dict[str, TransferResult]
    entries: dict[str, ModelEntry]
    output_mode: str
    source_photo: np.ndarray
    reference_photo: np.ndarray
    shared_timings: dict[str, float] = field(default_factory=dict)  # ms of SHARED_STAGES, once for all models
    skipped: list[str] = field(default_factory=list)

    def image(self, name: str) -> np.ndarray:
        result = self.results[name]
        return result.made_up_crop if self.output_mode == "face crop" else result.image

    def before(self, name: str) -> np.ndarray:
        result = self.results[name]
        return result.source_crop if self.output_mode == "face crop" else self.source_photo

    def caption(self, name: str) -> str:
        entry, result = self.entries[name], self.results[name]
        figures = "no network" if entry.kind == "classical" else (
            f"{entry.params / 1e6:.2f} M params · {entry.gmacs:.1f} GMACs · {entry.gflops:.1f} GFLOPs")
        caption = f"{name} · {result.timings['model']:.0f} ms ({result.device}) · {figures}"
        return caption + (" · UNTRAINED: random weights" if not result.trained else "")

    def crops(self) -> list[tuple[np.ndarray, str]]:
        """The first source face's aligned crop, then each model's made-up crop: lips and lids at a glance."""
        first = next(iter(self.results.values()))
        return [(first.source_crop, "source"), *((result.made_up_crop, name) for name, result in self.results.items())]

    def gallery(self) -> list[tuple[np.ndarray, str]]:
        return [(self.image(name), self.caption(name)) for name in self.results]

    def table(self) -> list[list]:
        """The shared stages' row (once for every model), then one row per model with its own stages; a model's
        total is what it took end to end, the shared stages included."""
        shared = [round(self.shared_timings.get(stage, 0.0), 1) if stage in SHARED_STAGES else "" for stage in STAGES]
        device = next(iter(self.results.values())).device if self.results else ""
        rows = [[SHARED_ROW, "", "", "", *shared, round(sum(self.shared_timings.values()), 1), device]]
        for name, result in self.results.items():
            entry = self.entries[name]
            timings = ["" if stage in SHARED_STAGES else round(result.timings.get(stage, 0.0), 1) for stage in STAGES]
            own = sum(result.timings.get(stage, 0.0) for stage in STAGES if stage not in SHARED_STAGES)
            rows.append([name, round(entry.params / 1e6, 3), round(entry.gmacs, 2), round(entry.gflops, 2), *timings,
                         round(own + sum(self.shared_timings.values()), 1), result.device])
        return rows

    def notes(self) -> str:
        lines = []
        untrained = [name for name, result in self.results.items() if not result.trained]
        if untrained:
            lines.append(f"**{', '.join(untrained)}: no trained weights; the output comes from random weights.**")
        if self.skipped:
            lines.append(f"Not run, the time limit for one request was reached: {', '.join(self.skipped)}. "
                         "Choose fewer models.")
        if self.results:
            first = next(iter(self.results.values()))
            lines.append(f"Detected and paired once for all models: load, detect, align and the pair stage "
                         f"(landmarks, masks, the warped reference, the example lips) are shared; "
                         f"{len(first.source_faces)} source face(s) made up; device: {first.device}.")
        return "\n\n".join(lines)

    def detections(self) -> list[tuple[np.ndarray, str]]:
        """Both photos with the face boxes and landmarks found, and the aligned crops the models saw."""
        result = next(iter(self.results.values()))
        source = _with_boxes(self.source_photo, result.source_faces)
        reference = _with_boxes(self.reference_photo, [result.reference_face])
        return [(source, "source: detected face(s)"), (reference, "reference: detected face"),
                (result.source_crop, "source: aligned crop"), (result.reference_crop, "reference: aligned crop")]


class Handlers:
    """The app's work: one `MakeupPipeline` shared by every request, so MTCNN and the models load once."""

    def __init__(self, pipeline: MakeupPipeline, limits: AppLimits | None = None,
                 weights_dir: str | None = None) -> None:
        self.pipeline = pipeline
        self.limits = limits or AppLimits()
        self.weights_dir = weights_dir
        self._compute = on_accelerator(self._run_models)
        # every model a request may name (read once: the manifest is re-read only when the app is rebuilt);
        # those whose weights failed to load are refused by the pipeline with their reason
        self.entries = {entry.name: entry for entry in model_entries(weights_dir, include_untrained=True)}

    def compare(self, source: str | None, reference: str | None, models: Sequence[str] | str | None,
                intensity: float = 1.0, parts: Sequence[str] | None = None,
                output_mode: str = OUTPUT_MODES[0]) -> Comparison:
        """Every model of `models` on the same pair. Raises gr.Error with a readable message on bad input."""
        names = [models] if isinstance(models, str) else list(models or [])
        if not source or not reference:
            missing = "a source face" if not source else "a reference face wearing makeup"
            raise gr.Error(f"Upload {missing} first (both photos are needed).")
        if not names:
            raise gr.Error("Choose at least one model to run.")
        entries = self.entries
        unknown = [name for name in names if name not in entries]
        if unknown:
            raise gr.Error(f"Unknown model(s): {', '.join(unknown)}. Choose among: {', '.join(entries)}.")
        if output_mode not in OUTPUT_MODES:
            raise gr.Error(f"Output must be one of {', '.join(OUTPUT_MODES)}, got {output_mode!r}.")
        with readable_errors():
            results, skipped, photos, shared = self._compute(source, reference, names, float(intensity), parts)
        return Comparison(results, {name: entries[name] for name in results}, output_mode, *photos, shared, skipped)

    def _run_models(self, source: str, reference: str, names: list[str], intensity: float,
                    parts: Sequence[str] | None) -> tuple[dict[str, TransferResult], list[str], tuple, dict]:
        """The pipeline's stages with a time limit between models: the photos and the pair once, then each
        model in turn until the limit is reached."""
        start = time.perf_counter()
        pipeline = self.pipeline
        regions = check_regions(list(parts) if parts is not None else None)
        check_intensity(intensity)
        prepared_source = pipeline.prepare(source, "source")
        prepared_reference = pipeline.prepare(reference, "reference")
        pair = pipeline.prepare_pair(prepared_source, prepared_reference, names, regions)
        results, skipped = {}, []
        for index, name in enumerate(names):
            if index and time.perf_counter() - start > self.limits.time_limit_s:
                skipped = names[index:]
                break
            results[name] = pipeline.transfer_pair(pair, name, intensity, regions)
        return results, skipped, (prepared_source.image, prepared_reference.image), pair.shared_timings

    def transfer(self, source: str | None, reference: str | None, model: str, intensity: float = 1.0,
                 parts: Sequence[str] | None = None, output_mode: str = OUTPUT_MODES[0]) -> tuple[np.ndarray, str]:
        """One model: the made-up photo (or face crop) and its figures as markdown."""
        comparison = self.compare(source, reference, [model], intensity, parts, output_mode)
        return np.ascontiguousarray(comparison.image(model)), describe(comparison, model)


def describe(comparison: Comparison, name: str) -> str:
    """One model's figures as markdown: what ran, how big it is, how long each stage took."""
    entry, result = comparison.entries[name], comparison.results[name]
    lines = []
    if not result.trained:
        lines.append(f"**Warning: `{name}` has no trained weights; this output comes from random weights.**\n")
    lines.append(f"**{name}**: {entry.method}")
    if entry.kind != "classical":
        lines.append(f"- parameters: {entry.params / 1e6:.3f} M; MACs per transfer (both inputs): "
                     f"{entry.gmacs:.2f} G ({entry.gflops:.2f} GFLOPs)")
    shared = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in comparison.shared_timings.items())
    own = ", ".join(f"{stage} {result.timings.get(stage, 0.0):.0f} ms" for stage in STAGES
                    if stage not in SHARED_STAGES)
    lines.append(f"- time on {result.device}: {shared}, {own}")
    return "\n".join(lines)


@contextmanager
def readable_errors() -> Iterator[None]:
    """Turn the pipeline's typed errors into gr.Error; log and summarise anything else."""
    try:
        yield
    except gr.Error:
        raise
    # ImportError: an optional package (mediapipe) is missing; its message says what to install
    except (InputImageError, WeightsError, ValueError, ImportError) as error:
        raise gr.Error(str(error)) from error
    except Exception as error:
        log.exception("transfer failed")
        raise gr.Error(f"The transfer failed unexpectedly ({type(error).__name__}). Try other photos; if it "
                       "happens again, report it with the photos.") from error


def _with_boxes(photo: np.ndarray, faces) -> np.ndarray:
    scale = min(1.0, _PREVIEW_SIDE / max(photo.shape[:2]))
    preview = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else photo.copy()
    thickness = max(2, round(max(preview.shape[:2]) / 300))
    for face in faces:
        x0, y0, x1, y1 = (np.asarray(face.box, dtype=np.float32) * scale).round().astype(int)
        cv2.rectangle(preview, (x0, y0), (x1, y1), (0, 255, 0), thickness)
        for x, y in np.asarray(face.landmarks, dtype=np.float32) * scale:
            cv2.circle(preview, (int(round(x)), int(round(y))), thickness + 1, (255, 0, 0), -1)
    return preview
