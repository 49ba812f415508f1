"""The pipeline benchmark behind `makeup bench --pipeline`: a photo's whole path, stage by stage.

Photos are synthesised at run time (a public-domain portrait from scikit-image scaled into a canvas of the wanted
size) and written as JPEG files, so every run measures what a user gets: loading from a file, detecting, aligning,
the pair stage, the model, its finish and pasting back, warm (models loaded, one untimed run), median of several
runs, for the teacher and every shipped student in one run. Every request uses the same reference file, as a user
trying one look on several photos does: after the warm-up it comes from the pipeline's reference cache. The 40-megapixel run
happens in a fresh subprocess so its peak resident memory (the RSS high-water mark) is that of the transfer alone.
Saving the result is timed separately; it is not part of "total".

    python -m makeup.bench.pipeline --worker '{...}'   (internal: the 40-megapixel measurement)
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from makeup.transfer import STAGES as TRANSFER_STAGES

TEACHER = "beautygan"
PHOTO_MEGAPIXELS = (1, 12)
ULTRA_MEGAPIXELS = 40
REFERENCE_MEGAPIXELS = 1
STAGES = (*TRANSFER_STAGES, "total")
# Targets on the reference 2-core CPU (see README): slim-s end to end on a 1 MP photo, the reference cached.
TARGET_STUDENT = "slim-s"
TARGET_1MP_MS = 60.0
TARGET_ULTRA_MS = 3000.0
TARGET_ULTRA_PEAK_MB = 2048.0


def smallest_student() -> str:
    """The registered generator with the fewest MACs (measured when its card does not say), teacher excluded."""
    from makeup.models import create_model, get_card, list_models
    from makeup.bench.profile import count_macs, example_inputs

    def gmacs(name: str) -> float:
        card = get_card(name)
        if card.gmacs > 0:
            return card.gmacs
        return count_macs(create_model(name).eval(), *example_inputs("generator")) / 1e9

    return min((name for name in list_models("generator") if name != TEACHER), key=gmacs)


def shipped_students(weights_dir: str | Path | None = None) -> list[str]:
    """Every generator but the teacher with trained weights in `weights_dir`, fewest MACs last."""
    from makeup.models import get_card, list_models
    from makeup.weights import has_weights

    names = [name for name in list_models("generator") if name != TEACHER and has_weights(name, weights_dir)]
    return sorted(names, key=lambda name: -get_card(name).gmacs)


def synthetic_photo(megapixels: float, portrait: np.ndarray) -> np.ndarray:
    """A 4:3 landscape photo of about `megapixels`: the portrait scaled to the full height, mirrored sideways."""
    height = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = int(round(height * 4 / 3))
    scaled = cv2.resize(portrait, (height * portrait.shape[1] // portrait.shape[0], height),
                        interpolation=cv2.INTER_CUBIC)
    left = (width - scaled.shape[1]) // 2
    return cv2.copyMakeBorder(scaled, 0, 0, left, width - scaled.shape[1] - left, cv2.BORDER_REFLECT)


def write_photos(folder: Path) -> dict[str, Path]:
    """JPEG files (quality 90, like a camera's) for each benchmarked size and for the reference."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    from makeup.io import save_image

    astronaut = data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace_hopper = np.asarray(Image.open(handle).convert("RGB"))
    paths = {"reference": save_image(synthetic_photo(REFERENCE_MEGAPIXELS, grace_hopper),
                                     folder / "reference.jpg", quality=90)}
    for megapixels in (*PHOTO_MEGAPIXELS, ULTRA_MEGAPIXELS):
        photo = synthetic_photo(megapixels, astronaut)
        paths[f"{megapixels}mp"] = save_image(photo, folder / f"source-{megapixels}mp.jpg", quality=90)
        del photo
    return paths


def _pipeline(models: list[str], device: str):
    from makeup.transfer import MakeupPipeline
    from makeup.weights import UntrainedModelWarning

    with warnings.catch_warnings():
        # speed does not depend on the weights' values; the table says which models are untrained
        warnings.simplefilter("ignore", UntrainedModelWarning)
        return MakeupPipeline(models=models, device=device, allow_untrained=True)


def measure_stages(pipeline, source: Path, reference: Path, model: str, repeats: int, warmup: int,
                   save_to: Path | None = None) -> dict[str, Any]:
    """Median milliseconds per stage of `pipeline.transfer(source file, reference file)`, and of saving."""
    from makeup.io import save_image

    runs, saves = [], []
    for step in range(warmup + repeats):
        result = pipeline.transfer(source, reference, model=model)
        if step < warmup:
            continue
        runs.append(result.timings)
        if save_to is not None:
            start = time.perf_counter()
            save_image(result.image, save_to, quality=95)
            saves.append((time.perf_counter() - start) * 1000.0)
    height, width = result.image.shape[:2]
    row = {stage: statistics.median(run.get(stage, 0.0) for run in runs) for stage in STAGES}
    row["save"] = statistics.median(saves) if saves else None
    row.update(width=width, height=height, megapixels=width * height / 1e6, model_name=model,
               trained=result.trained, repeats=repeats)
    return row


def measure_pair_stage(pipeline, source: Path, reference: Path, models: list[str], repeats: int) -> dict[str, Any]:
    """Median ms of the pair stage for one source face and `models`' needs: cold (the reference new to the
    pipeline, so its FaceMesh, masks and lip colour are computed too) and warm (the reference cached)."""
    cold, warm = [], []
    prepared_source = pipeline.prepare(source, "source")
    for _ in range(repeats + 1):
        pipeline.references.clear()
        prepared_reference = pipeline.prepare(reference, "reference")
        cold.append(pipeline.prepare_pair(pipeline.prepare(source, "source"), prepared_reference, models).ms)
        warm.append(pipeline.prepare_pair(pipeline.prepare(source, "source"), pipeline.prepare(reference, "reference"),
                                          models).ms)
    needs = pipeline.needs(models)
    return {"cold_ms": statistics.median(cold[1:]), "warm_ms": statistics.median(warm[1:]), "repeats": repeats,
            "models": models, "warped_reference": needs.warped_reference, "example_lips": needs.example_lips,
            "faces": len(prepared_source.aligned)}


def ultra_worker(options: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh process: warm up on the small photo, then time the 40 MP one; report peak RSS."""
    import torch

    from makeup.io import save_image

    torch.set_num_threads(options["threads"])
    pipeline = _pipeline([options["model"]], options["device"])
    pipeline.transfer(options["warmup_source"], options["reference"], model=options["model"])
    rss_warm = _peak_rss_mb()
    row = measure_stages(pipeline, Path(options["source"]), Path(options["reference"]), options["model"],
                         repeats=options["repeats"], warmup=0)
    row["peak_rss_mb"] = _peak_rss_mb()
    row["rss_before_mb"] = rss_warm
    result = pipeline.transfer(options["source"], options["reference"], model=options["model"])
    start = time.perf_counter()
    save_image(result.image, Path(options["output"]), quality=95)
    row["save"] = (time.perf_counter() - start) * 1000.0
    row["peak_rss_with_save_mb"] = _peak_rss_mb()
    return row


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_ultra(paths: dict[str, Path], model: str, device: str, threads: int, repeats: int,
                  folder: Path) -> dict[str, Any]:
    """The 40 MP measurement in a fresh subprocess (so its memory high-water mark is its own)."""
    options = {
        "model": model, "device": device, "threads": threads, "repeats": repeats,
        "source": str(paths[f"{ULTRA_MEGAPIXELS}mp"]), "reference": str(paths["reference"]),
        "warmup_source": str(paths[f"{PHOTO_MEGAPIXELS[0]}mp"]), "output": str(folder / "result-ultra.jpg"),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "makeup.bench.pipeline", "--worker", json.dumps(options)],
        capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {ULTRA_MEGAPIXELS} MP benchmark process failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def pipeline_record(device: str, device_name: str = "", repeats: int = 5, warmup: int = 1, threads: int = 2,
                    ultra_repeats: int = 3, models: list[str] | None = None) -> dict[str, Any]:
    """Measure the pipeline on `device` for the teacher and every shipped student (or `models`); JSON-able.

    The 40 MP photo runs with the last of `models` (by default the student with the fewest MACs).
    """
    import torch

    models = models or [TEACHER, *(shipped_students() or [smallest_student()])]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="makeup-bench-") as temporary:
            folder = Path(temporary)
            paths = write_photos(folder)
            pipeline = _pipeline(models, device)
            rows = []
            for megapixels in PHOTO_MEGAPIXELS:
                for model in models:
                    rows.append(measure_stages(pipeline, paths[f"{megapixels}mp"], paths["reference"], model,
                                               repeats, warmup, save_to=folder / "result.jpg"))
            pair_stage = measure_pair_stage(pipeline, paths[f"{PHOTO_MEGAPIXELS[0]}mp"], paths["reference"], models,
                                            repeats)
            ultra = measure_ultra(paths, models[-1], device, threads, ultra_repeats, folder)
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "table": "pipeline",
        "device": device,
        "device_name": device_name or device,
        "torch": torch.__version__,
        "threads": threads if device == "cpu" else None,
        "repeats": repeats,
        "warmup": warmup,
        "crop_size": 256,
        "reference_megapixels": REFERENCE_MEGAPIXELS,
        "rows": rows,
        "pair_stage": pair_stage,
        "ultra": ultra,
        "targets": {f"1mp_{TARGET_STUDENT}_ms": TARGET_1MP_MS, "ultra_ms": TARGET_ULTRA_MS,
                    "ultra_peak_mb": TARGET_ULTRA_PEAK_MB},
    }


def pipeline_markdown(record: dict[str, Any]) -> str:
    """The pipeline table of a `pipeline_record` as markdown, with what was measured where."""
    threads = f", {record['threads']} threads" if record["threads"] else ""
    stages = [stage for stage in STAGES if any(stage in row for row in record["rows"])]
    lines = [
        f"Pipeline from JPEG files to the full-resolution result, {record['device']} ({record['device_name']}"
        f"{threads}), torch {record['torch']}: median ms of {record['repeats']} warm runs per stage, the same "
        f"{record['reference_megapixels']} MP reference every time (after the first request it comes from the "
        f"reference cache, so load, detect, align and pair are the source's); models at "
        f"{record['crop_size']}x{record['crop_size']}; save (JPEG, not in total) is separate; "
        "x teacher: the teacher's total on the same photo divided by the model's.",
        "",
        "| photo | model | " + " | ".join(stages) + " | save | x teacher |",
        "| --- | --- | " + " | ".join("---:" for _ in stages) + " | ---: | ---: |",
    ]
    teacher_totals = {row["megapixels"]: row["total"] for row in record["rows"] if row["model_name"] == TEACHER}
    for row in [*record["rows"], record["ultra"]]:
        name = row["model_name"] + ("" if row["trained"] else " (untrained)")
        save = "-" if row.get("save") is None else f"{row['save']:.0f}"
        teacher = teacher_totals.get(row["megapixels"])
        ratio = f"{teacher / row['total']:.1f}x" if teacher else "-"
        lines.append(
            f"| {row['megapixels']:.1f} MP ({row['width']}x{row['height']}) | {name} | "
            + " | ".join(f"{row.get(stage, 0.0):.0f}" for stage in stages) + f" | {save} | {ratio} |"
        )
    pair = record["pair_stage"]
    lines += [
        "",
        f"Pair stage per source face (FaceMesh on the crops, masks, the warped reference: "
        f"{'yes' if pair['warped_reference'] else 'no'}, the example lips: {'yes' if pair['example_lips'] else 'no'}), "
        f"once for all {len(pair['models'])} models: {pair['cold_ms']:.1f} ms with a new reference, "
        f"{pair['warm_ms']:.1f} ms with the reference cached (median of {pair['repeats']}).",
    ]
    ultra = record["ultra"]
    lines += [
        "",
        f"{ultra['megapixels']:.0f} MP peak resident memory (fresh process, models loaded): "
        f"{ultra['peak_rss_mb']:.0f} MiB for the transfers ({ultra['rss_before_mb']:.0f} MiB before them), "
        f"{ultra['peak_rss_with_save_mb']:.0f} MiB including saving the result.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(ultra_worker(json.loads(sys.argv[2]))))
    else:
        sys.exit("usage: makeup bench --pipeline (this module's --worker mode is internal)")
