"""Writing an evaluation: JSON for machines, a markdown table for people, and contact sheets to look at."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is named in the JSON and shown in the table."""

    key: str
    header: str
    higher_is_better: bool
    digits: int = 2
    ranked: bool = True  # False: neither direction is better, so no arrow and no best value in bold


SYNTHETIC_METRICS = (
    MetricSpec("psnr", "PSNR", True),
    MetricSpec("psnr_face", "PSNR face", True),
    MetricSpec("ssim", "SSIM", True, 4),
    MetricSpec("ssim_face", "SSIM face", True, 4),
    MetricSpec("de_lips", "ΔE00 lips", False),
    MetricSpec("de_eyeshadow", "ΔE00 eye shadow", False),
    MetricSpec("de_cheeks", "ΔE00 cheeks", False),
    MetricSpec("psnr_unchanged", "PSNR unchanged", True),
)

REAL_METRICS = (
    MetricSpec("emd_lips", "EMD lips", False),
    MetricSpec("emd_eyeshadow", "EMD eye shadow", False),
    MetricSpec("emd_skin", "EMD skin", False),
    MetricSpec("gap_lips", "gap lips", False),
    MetricSpec("gap_eyeshadow", "gap eye shadow", False),
    MetricSpec("gap_skin", "gap skin", False),
    MetricSpec("psnr_background", "PSNR background", True),
    MetricSpec("ssim_face_structure", "face structure SSIM", True, 4),
)

SYNTHETIC_NOTE = (
    "Held-out synthetic triplets (identities and styles never used in training), against the exact ground truth. "
    "PSNR in dB (whole crop and face region), SSIM, CIEDE2000 per region (mean per pixel), and PSNR over the "
    "pixels the makeup leaves unchanged (preservation; identical pixels score 100 dB)."
)
REAL_NOTE = (
    "Real unpaired pairs (non-makeup source, real makeup reference): earth mover's distance between the output's "
    "and the reference's region colours (mean over the L, a, b channels, Lab units); gap: that distance divided by "
    "the untouched source's (1 = nothing moved, 0 = the colours match the reference's); PSNR against the source "
    "outside the face (background kept), and SSIM of the face's luminance against the source (structure, an "
    "identity proxy)."
)

BY_REFERENCE_NOTE = (
    "The real pairs by how made up the reference looks (`makeup.classical.example.reference_makeup`, lips and lids "
    "apart): EMD lips over the references whose lips look made up and over those whose lips look bare, and EMD eye "
    "shadow likewise by their lids. A bare region asks for nothing: there a method that leaves the source alone "
    "stays near identity's figure, and one that copies the reference's natural colour scores lower without "
    "carrying any makeup, so those columns rank nothing."
)
# (key in a row's `by_reference`, group in `reference_groups`, column title, ranked): on a bare region a lower
# EMD is not better, so those columns are not ranked
BY_REFERENCE_COLUMNS = (
    ("emd_lips_made_up", "lips_made_up", "EMD lips, made-up lips", True),
    ("emd_lips_bare", "lips_bare", "EMD lips, bare lips", False),
    ("emd_eyeshadow_made_up", "lids_made_up", "EMD eye shadow, made-up lids", True),
    ("emd_eyeshadow_bare", "lids_bare", "EMD eye shadow, bare lids", False),
)


def by_reference_table(section: dict[str, Any]) -> str:
    """The real pairs' EMD by how made up the reference looks, as a markdown table (pairs per group in the
    headers)."""
    counts = section["reference_groups"]
    specs = tuple(MetricSpec(key, f"{title} ({counts[group]})", False, ranked=ranked)
                  for key, group, title, ranked in BY_REFERENCE_COLUMNS)
    rows = [{**row, "metrics": row["by_reference"]} for row in section["rows"]]
    return markdown_table(rows, specs)


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: a metric that could not be measured becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """Write `data` as strict JSON (NaN -> null), atomically."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(_finite_or_none(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def _format(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown_table(rows: list[dict[str, Any]], specs: tuple[MetricSpec, ...]) -> str:
    """A markdown table: one row per model (`model`, `weights` and the metrics of `specs`), the best value of each
    ranked column in bold."""
    best: dict[str, float] = {}
    for spec in (spec for spec in specs if spec.ranked):
        values = [row["metrics"].get(spec.key) for row in rows]
        values = [v for v in values if v is not None and math.isfinite(v)]
        if values:
            best[spec.key] = max(values) if spec.higher_is_better else min(values)
    arrows = [f"{spec.header} {'↑' if spec.higher_is_better else '↓'}" if spec.ranked else spec.header
              for spec in specs]
    lines = [
        "| model | weights | " + " | ".join(arrows) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in specs) + " |",
    ]
    for row in rows:
        cells = []
        for spec in specs:
            value = row["metrics"].get(spec.key)
            text = _format(value, spec.digits)
            if text != "n/a" and spec.key in best and round(value, spec.digits) == round(best[spec.key], spec.digits):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {row['model']} | {row['weights']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(result: dict[str, Any]) -> str:
    """The whole report as markdown: settings, then the synthetic and the real table."""
    settings = result["settings"]
    parts = [
        "# Makeup transfer evaluation",
        "",
        f"Command: `{settings['command']}`",
        "",
        f"Data: {settings['data']}; crop size {settings['size']} px; device {settings['device']}.",
    ]
    parts += [f"\n**Warning: {warning}.**" for warning in settings.get("warnings", [])]
    untrained = [model["model"] for model in settings["models"] if not model["trained"]]
    if untrained:
        names = ", ".join(untrained)
        parts += ["", f"**{names}: no trained weights, random initialisation; their rows mean nothing.**"]
    for title, key, specs, note in (
        ("Synthetic triplets", "synthetic", SYNTHETIC_METRICS, SYNTHETIC_NOTE),
        ("Real unpaired pairs", "real", REAL_METRICS, REAL_NOTE),
    ):
        section = result[key]
        parts += ["", f"## {title} ({section['count']})", ""]
        if section["count"]:
            parts += [note, "", markdown_table(section["rows"], specs)]
            if "reference_groups" in section:
                parts += ["", BY_REFERENCE_NOTE, "", by_reference_table(section)]
        else:
            parts += [section.get("reason", "none evaluated")]
    return "\n".join(parts) + "\n"


def contact_sheet(
    columns: list[tuple[str, list[np.ndarray]]], path: str | Path, tile: int = 160, label_height: int = 18
) -> Path:
    """Save a grid of images: one labelled column per entry of `columns` (title, one image per row), as PNG."""
    if not columns or not columns[0][1]:
        raise ValueError("a contact sheet needs at least one column with one image")
    rows = len(columns[0][1])
    if any(len(images) != rows for _, images in columns):
        raise ValueError("every contact-sheet column needs the same number of images")
    sheet = Image.new("RGB", (tile * len(columns), label_height + tile * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for column, (title, images) in enumerate(columns):
        draw.text((column * tile + 4, 3), title[: tile // 6], fill="black")
        for row, image in enumerate(images):
            thumbnail = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((tile, tile), Image.BILINEAR)
            sheet.paste(thumbnail, (column * tile, label_height + row * tile))
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    sheet.save(temporary, format="PNG")
    os.replace(temporary, path)
    return path


def write_report(
    result: dict[str, Any], sheets: dict[str, list[tuple[str, list[np.ndarray]]]], out_dir: str | Path
) -> dict[str, Path]:
    """Write `eval.json`, `eval.md`, a contact sheet per set (`sheet-synthetic.png`, `sheet-real.png`) and
    `metrics-<model>.json` per model."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": write_json(result, out_dir / "eval.json")}
    markdown = out_dir / "eval.md"
    temporary = markdown.with_name(f".{markdown.name}.tmp")
    temporary.write_text(markdown_report(result), encoding="utf-8")
    os.replace(temporary, markdown)
    written["markdown"] = markdown
    for key, columns in sheets.items():
        if columns:
            written[f"sheet_{key}"] = contact_sheet(columns, out_dir / f"sheet-{key}.png")
    for label, metrics in model_metrics(result).items():
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label)
        written[f"metrics_{label}"] = write_json(metrics, out_dir / f"metrics-{safe}.json")
    return written


def model_metrics(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per model, its metrics on both sets and how they were measured: the object `makeup export --metrics`
    records in the weights manifest."""
    settings = result["settings"]
    per_model: dict[str, dict[str, Any]] = {}
    for key in ("synthetic", "real"):
        for row in result[key]["rows"]:
            entry = per_model.setdefault(
                row["model"],
                {"eval_command": settings["command"], "size": settings["size"], "split": settings["split"]},
            )
            entry[key] = {"count": result[key]["count"], **row["metrics"]}
    return per_model
