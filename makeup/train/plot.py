"""Loss curves of a training run, drawn from its JSONL log (matplotlib, imported only here)."""

from __future__ import annotations

import math
from pathlib import Path

from makeup.train.log import LOG_FILE, read_log


def _moving_average(values: list[float], window: int) -> list[float]:
    if window <= 1:
        return values
    averaged, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        averaged.append(total / min(index + 1, window))
    return averaged


def plot_log(log: str | Path, output: str | Path | None = None, smooth: int = 1) -> Path:
    """One panel per logged loss against the step; returns the image path (default `losses.png` beside the log)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise RuntimeError("plotting needs matplotlib: pip install matplotlib") from error
    log = Path(log)
    if log.is_dir():
        log = log / LOG_FILE
    if not log.is_file():
        raise FileNotFoundError(f"no training log at {log}")
    records = [record for record in read_log(log) if "step" in record]
    names = sorted({key for record in records for key in record if key.startswith("loss/")})
    if not names:
        raise ValueError(f"{log} has no loss records yet")
    columns = min(4, len(names))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names):
        points = [(record["step"], record[name]) for record in records if name in record]
        steps, values = zip(*points)
        axis.plot(steps, _moving_average(list(values), smooth), linewidth=1)
        axis.set_title(name.removeprefix("loss/"), fontsize=10)
        axis.set_xlabel("step", fontsize=8)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    output = Path(output) if output else log.with_name("losses.png")
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output
