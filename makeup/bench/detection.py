"""Detection on a downscaled copy against detection at full size: `makeup bench --detection`.

Each face photo is scaled into a landscape photo of the wanted size (as the pipeline benchmark does), then found
twice: by `FaceDetector.largest_face` (the quick pass on a small copy, boxes and landmarks mapped back) and by
MTCNN on the full-size photo. Reported per size: how many faces both find and agree on (box IoU), the landmark
error of the quick pass in eye distances, and both times.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from makeup.bench.pipeline import synthetic_photo

# The full-size search looks for faces down to this share of the photo's long side (the development faces fill
# a portrait), so that it costs seconds, not minutes, at 12 MP.
FULL_SIZE_SMALLEST_FACE = 0.04


def development_photos(folder: Path, limit: int) -> list[Path]:
    """Up to `limit` face photos of `folder` (every kind and source, in name order, spread over the sources)."""
    sources = sorted(path for path in folder.iterdir() if path.is_dir())
    per_source = [sorted(p for p in source.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
                  for source in sources]
    photos: list[Path] = []
    while len(photos) < limit and any(per_source):
        for paths in per_source:
            if paths and len(photos) < limit:
                photos.append(paths.pop(0))
    return photos


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    overlap = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    area = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]))
    return overlap / max(area - overlap, 1e-6)


def compare(detector, photo: np.ndarray) -> dict[str, Any] | None:
    """The quick pass against the full-size search on one photo; None when the full-size search finds nothing."""
    start = time.perf_counter()
    full = detector._search(photo, max(20, round(FULL_SIZE_SMALLEST_FACE * max(photo.shape[:2]))), True)
    full_ms = (time.perf_counter() - start) * 1000.0
    if not full:
        return None
    start = time.perf_counter()
    quick = detector.largest_face(photo)
    quick_ms = (time.perf_counter() - start) * 1000.0
    reference = full[0]
    eye_distance = float(np.linalg.norm(reference.landmarks[0] - reference.landmarks[1]))
    if quick is None:
        return {"found": False, "full_ms": full_ms, "quick_ms": quick_ms}
    error = np.linalg.norm(quick.landmarks - reference.landmarks, axis=1) / eye_distance
    return {"found": True, "iou": box_iou(quick.box, reference.box), "mean_error": float(error.mean()),
            "max_error": float(error.max()), "full_ms": full_ms, "quick_ms": quick_ms}


def detection_record(faces: Path, megapixels: tuple[float, ...] = (1, 12), limit: int = 24,
                     threads: int = 2) -> dict[str, Any]:
    """The comparison over up to `limit` development faces at each size; JSON-able."""
    import torch

    from makeup.face import FaceDetector

    torch.set_num_threads(threads)
    detector = FaceDetector(device="cpu")
    photos = development_photos(faces, limit)
    rows = []
    for size in megapixels:
        results = []
        for path in photos:
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            result = compare(detector, synthetic_photo(size, image))
            if result is not None:
                results.append(result)
        found = [r for r in results if r["found"]]
        rows.append({
            "megapixels": size, "photos": len(results), "found": len(found),
            "same_face": sum(r["iou"] > 0.5 for r in found),
            "median_iou": statistics.median(r["iou"] for r in found) if found else None,
            "mean_landmark_error": float(np.mean([r["mean_error"] for r in found])) if found else None,
            "max_landmark_error": float(np.max([r["max_error"] for r in found])) if found else None,
            "quick_ms": statistics.median(r["quick_ms"] for r in results) if results else None,
            "full_ms": statistics.median(r["full_ms"] for r in results) if results else None,
        })
    return {"table": "detection", "faces": str(faces), "quick_side": detector.quick_side,
            "large_face": detector.large_face, "threads": threads, "rows": rows}


def detection_markdown(record: dict[str, Any]) -> str:
    lines = [
        f"Largest-face detection on a {record['quick_side']} px copy (faces of {record['large_face']} px and up "
        f"there) against MTCNN on the full-size photo, development faces scaled into landscape photos, "
        f"{record['threads']} threads. Landmark error: distance of the quick pass's 5 landmarks from the "
        "full-size ones, in eye distances; times are medians.",
        "",
        "| photo | faces | found | same face (IoU > 0.5) | median IoU | mean landmark error | max landmark error | "
        "quick ms | full-size ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in record["rows"]:
        lines.append(f"| {row['megapixels']:g} MP | {row['photos']} | {row['found']} | {row['same_face']} | "
                     f"{row['median_iou']:.3f} | {row['mean_landmark_error']:.3f} | {row['max_landmark_error']:.3f} | "
                     f"{row['quick_ms']:.0f} | {row['full_ms']:.0f} |")
    return "\n".join(lines)
