"""What a run leaves to look at: a JSONL log of every logged step and sample grids of its outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

LOG_FILE = "log.jsonl"


class JsonlLog:
    """Appends one JSON object per line and flushes it, so a killed run keeps everything logged so far."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.time(), 3), **record}
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL log; a line cut short by a kill is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_log_after(path: str | Path, step: int) -> None:
    """Drop records past `step` (logged after the checkpoint a run resumes from), so the log has no duplicates."""
    path = Path(path)
    if path.is_file():
        kept = [record for record in read_log(path) if record.get("step", 0) <= step]
        path.write_text("".join(json.dumps(record) + "\n" for record in kept), encoding="utf-8")


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """Nx3xHxW in [-1, 1] -> NxHxWx3 uint8."""
    array = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return array.permute(0, 2, 3, 1).cpu().numpy()


def sample_grid(columns: list[torch.Tensor | None], max_rows: int = 4) -> np.ndarray:
    """One row per sample, one column per image kind (e.g. source, reference, output, ground truth).

    A None column, or a sample without an image there, is drawn mid-grey. Returns HxWx3 uint8 RGB.
    """
    first = next(column for column in columns if column is not None)
    rows = min(max_rows, first.shape[0])
    size = first.shape[-2:]
    tiles = []
    for column in columns:
        if column is None:
            tiles.append(np.full((rows, *size, 3), 128, np.uint8))
        else:
            tiles.append(_to_uint8(column[:rows]))
    return np.concatenate([np.concatenate(list(tile), axis=0) for tile in tiles], axis=1)


def save_image(path: str | Path, image: np.ndarray) -> None:
    """Write an HxWx3 uint8 RGB image as PNG.

    RGB to BGR is a numpy slice, not `cv2.cvtColor`: on a large image OpenCV would start its thread pool in the
    training process, and data-loading workers forked after that can deadlock inside OpenCV.
    """
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write the image {path}")
