"""Measure training speed (steps/s and images/s) for several batch sizes by running the real trainer briefly.

    python -m makeup.train.speed --image-size 256 --batch-sizes 1,4,8 --steps 10 [--cache CACHE] [--json OUT]

With `--cache` the measurement includes data loading and synthetic rendering; without it the trainer reads
random tensors of the batch format, which isolates the model's cost. Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from makeup.train.config import TrainConfig, load_config, parse_assignments


class RandomSamples:
    """Random sample dicts of the training batch format; alternately synthetic (with ground truth) and real."""

    def __init__(self, size: int, count: int = 256) -> None:
        self.size, self.count = size, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        generator = torch.Generator().manual_seed(index)
        size = self.size
        synthetic = index % 2 == 0

        def image() -> torch.Tensor:
            return torch.rand(3, size, size, generator=generator) * 2 - 1

        masks = torch.zeros(4, size, size)
        masks[0, size * 5 // 8 : size * 3 // 4, size * 3 // 8 : size * 5 // 8] = 1  # lips
        masks[1, size // 4 : size * 7 // 8, size // 4 : size * 3 // 4] = 1  # skin
        masks[2, size // 3 : size * 5 // 12, size // 4 : size * 7 // 16] = 1  # eye shadow, both sides
        masks[3, size // 3 : size * 5 // 12, size * 9 // 16 : size * 3 // 4] = 1
        return {
            "source": image(), "reference": image(),
            "target": image() if synthetic else torch.zeros(3, size, size),
            "has_target": torch.tensor(synthetic),
            "source_masks": masks, "reference_masks": masks,
            "kind": "synthetic" if synthetic else "real",
        }


def measure(
    config: TrainConfig, batch_sizes: list[int], steps: int, warmup: int, use_cache: bool
) -> list[dict[str, Any]]:
    """Train `warmup + steps` steps per batch size (no checkpoints) and report the median speed after warm-up."""
    import torch

    from makeup.train.log import LOG_FILE, read_log
    from makeup.train.trainer import train

    rows = []
    for batch_size in batch_sizes:
        with tempfile.TemporaryDirectory() as folder:
            trial = dataclasses.replace(
                config, out_dir=folder, batch_size=batch_size, steps=warmup + steps, log_every=1,
                sample_every=0, checkpoint_every=0, progress=False,
            )
            dataset = None if use_cache else RandomSamples(config.image_size, count=max(64, 4 * batch_size))
            row: dict[str, Any] = {
                "image_size": config.image_size, "batch_size": batch_size, "data": "cache" if use_cache else "random"
            }
            try:
                train(trial, dataset=dataset)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                rows.append({**row, "error": "out of memory"})
                break
            timed = [record["steps_per_s"] for record in read_log(Path(folder) / LOG_FILE)][warmup:]
            steps_per_s = statistics.median(timed)
            peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None
            rows.append({**row, "steps_per_s": round(steps_per_s, 4),
                         "images_per_s": round(steps_per_s * batch_size, 3), "peak_gpu_gib": peak})
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
    return rows


def best_batch_size(rows: list[dict[str, Any]]) -> int:
    """The batch size with the most images per second."""
    measured = [row for row in rows if "images_per_s" in row]
    return max(measured, key=lambda row: row["images_per_s"])["batch_size"]


def markdown(rows: list[dict[str, Any]], device: str) -> str:
    lines = [f"training speed on {device}", "", "| size | batch | data | steps/s | images/s |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['image_size']} | {row['batch_size']} | {row['data']} | {row['error']} | |")
        else:
            lines.append(f"| {row['image_size']} | {row['batch_size']} | {row['data']} | "
                         f"{row['steps_per_s']:.3f} | {row['images_per_s']:.2f} |")
    return "\n".join(lines)


def device_name(config: TrainConfig) -> str:
    import torch

    if config.device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} threads)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cache", help="measure on this prepared cache (default: random tensors)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,4", help="comma-separated, tried in order (stops at out-of-memory)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON here")


def run(args: argparse.Namespace) -> int:
    overrides = {**parse_assignments(args.assignments), "image_size": args.image_size}
    if args.cache:
        overrides["cache"] = args.cache
    config = load_config(args.config, overrides)
    rows = measure(config, [int(b) for b in args.batch_sizes.split(",")], args.steps, args.warmup, bool(args.cache))
    result = {"device": device_name(config), "rows": rows, "best_batch_size": best_batch_size(rows)}
    print(markdown(rows, result["device"]))
    print(json.dumps(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m makeup.train.speed", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
