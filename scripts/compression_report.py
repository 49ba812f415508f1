"""The compression table and frontier: every shipped model and both classical methods, measured in one run.

    python scripts/compression_report.py [--cache cache/faces-256] [--split test] [--repeats 15]

For each model as it ships (weights trained at a smaller working size run at it inside the 256 px crop, as in the
app): params, GMACs per 256 px crop, fp16 size on disk, CPU latency at batch 1 (warm median) and its ratio to the
teacher's in this run; quality on held-out synthetic triplets (PSNR, SSIM, CIEDE2000 per region) and on real
pairs (EMD lips and eye shadow); fidelity to the teacher (PSNR of the model's output against the teacher's).
Writes bench-results/compression.json, replaces the table between the markers in docs/compression.md, saves
the frontier plot (quality against GMACs, log scale) as docs/compression-frontier.png and records every model's
CPU latency in weights/manifest.json (`benchmarks.cpu`, what the app's latency-quality chart plots). It takes minutes: run it on
purpose, on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

TEACHER = "beautygan"
CROP = 256
TABLE_START, TABLE_END = "<!-- compression-table:start -->", "<!-- compression-table:end -->"


def shipped_generators() -> list[str]:
    from makeup.models import get_card, list_models
    from makeup.weights import has_weights

    names = [name for name in list_models() if get_card(name).kind == "generator" and has_weights(name)]
    return sorted(names, key=lambda name: name != TEACHER)  # the teacher first


def speed_and_size(rows, repeats: int, threads: int) -> dict[str, dict]:
    """Params, GMACs, disk size and CPU latency of each evaluated row (identity left out)."""
    import torch

    from makeup.bench.profile import count_flops, count_params, example_inputs, measure_latency
    from makeup.weights import default_weights_dir, read_manifest

    manifest = read_manifest()["models"]
    figures = {}
    for row in rows:
        if row.kind == "identity":
            continue
        inputs = example_inputs("classical" if row.kind == "classical" else "generator", size=CROP)
        latency = measure_latency(row.module, inputs, repeats=repeats, warmup=3, threads=threads)
        entry = manifest.get(row.label, {})
        file = default_weights_dir() / entry["file"] if entry else None
        is_network = isinstance(row.module, torch.nn.Module) and row.kind == "generator"
        figures[row.label] = {
            "params": count_params(row.module) if is_network else 0,
            "gmacs": count_flops(row.module, *inputs[:2]) / 2e9 if is_network else 0.0,
            "disk_mb": file.stat().st_size / 1e6 if file and file.is_file() else 0.0,
            "cpu_ms": latency.median_ms,
        }
    return figures


def fidelity_to_teacher(rows, triplets) -> dict[str, float]:
    """Mean PSNR of each model's output against the teacher's on the synthetic triplets."""
    from makeup.evaluate.metrics import psnr
    from makeup.evaluate.runner import run_model

    teacher = next(row for row in rows if row.label == TEACHER)
    reference = run_model(teacher, triplets)
    fidelity = {}
    for row in rows:
        if row.label == TEACHER:
            continue
        outputs = run_model(row, triplets)
        fidelity[row.label] = sum(psnr(a, b) for a, b in zip(outputs, reference)) / len(reference)
    return fidelity


def measure(args: argparse.Namespace) -> dict:
    import torch

    from makeup.data import FaceCache
    from makeup.evaluate.runner import evaluate_models, held_out_triplets, load_eval_models, real_pairs

    torch.manual_seed(0)
    names = shipped_generators()
    rows = load_eval_models(names)
    faces = FaceCache(args.cache)
    triplets = held_out_triplets(faces, args.triplets, CROP, split=args.split, seed=0)
    pairs = real_pairs(faces, args.real_pairs, CROP, split=args.split, seed=0)
    result, _ = evaluate_models(rows, triplets, pairs, sheet_rows=0)
    speed = speed_and_size(rows, args.repeats, args.threads)
    fidelity = fidelity_to_teacher(rows, triplets)
    teacher_ms = speed[TEACHER]["cpu_ms"]
    teacher_gmacs = speed[TEACHER]["gmacs"]
    models = []
    for row in rows:
        synthetic = next(item["metrics"] for item in result["synthetic"]["rows"] if item["model"] == row.label)
        real = next((item["metrics"] for item in result["real"]["rows"] if item["model"] == row.label), {})
        figures = speed.get(row.label, {})
        models.append({
            "model": row.label, "kind": row.kind, **figures,
            "speedup": teacher_ms / figures["cpu_ms"] if figures else None,
            "macs_ratio": teacher_gmacs / figures["gmacs"] if figures.get("gmacs") else None,
            "synthetic": synthetic, "real": real, "fidelity_psnr": fidelity.get(row.label),
        })
    from makeup.cli.bench import device_name

    return {"split": args.split, "triplets": len(triplets), "real_pairs": len(pairs), "crop": CROP,
            "threads": args.threads, "repeats": args.repeats, "cpu": device_name("cpu"),
            "torch": torch.__version__, "models": models}


def _number(value, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def markdown(record: dict) -> str:
    lines = [
        f"Measured in one run of `python scripts/compression_report.py` on {record['cpu']} "
        f"({record['threads']} threads, torch {record['torch']}): {record['crop']} px crops, batch 1, warm median of "
        f"{record['repeats']}; quality on the {record['split']} split ({record['triplets']} synthetic triplets, "
        f"{record['real_pairs']} real pairs). Fidelity: PSNR of the output against the teacher's.",
        "",
        "| model | params | GMACs | MACs vs teacher | fp16 MB | CPU ms | speed-up | PSNR | SSIM | ΔE00 lips | "
        "ΔE00 eye shadow | real EMD lips | real EMD eye shadow | fidelity (dB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in record["models"]:
        synthetic, real = row["synthetic"], row["real"]
        params = "-" if row["kind"] == "identity" else (
            f"{row['params'] / 1e6:.3f} M" if row.get("params") else "0")
        lines.append(
            f"| {row['model']} | {params} | {_number(row.get('gmacs'), 3)} | {_number(row.get('macs_ratio'), 1, 'x')} | "
            f"{_number(row.get('disk_mb'), 2)} | {_number(row.get('cpu_ms'), 1)} | {_number(row.get('speedup'), 1, 'x')} | "
            f"{synthetic['psnr']:.2f} | {synthetic['ssim']:.4f} | {synthetic['de_lips']:.2f} | "
            f"{synthetic['de_eyeshadow']:.2f} | {_number(real.get('emd_lips'))} | {_number(real.get('emd_eyeshadow'))} | "
            f"{_number(row.get('fidelity_psnr'))} |")
    return "\n".join(lines)


def _label_places(networks: list[dict], group: str, key: str) -> list[tuple[float, float, int]]:
    """Where each model's label goes: (x, y) in data units and a line number below it. Models with about the same
    MACs (within a factor of 2.5) share one anchor, the group's rightmost x and highest value, and their labels
    stack one line apart from it, highest value first, so close points never print their names over each other."""
    order = sorted(range(len(networks)), key=lambda i: networks[i]["gmacs"])
    groups: list[list[int]] = []
    for i in order:
        if groups and math.log10(networks[i]["gmacs"] / networks[groups[-1][0]]["gmacs"]) < math.log10(2.5):
            groups[-1].append(i)
        else:
            groups.append([i])
    places: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(networks)
    for members in groups:
        members.sort(key=lambda i: -networks[i][group][key])
        anchor = (max(networks[i]["gmacs"] for i in members), networks[members[0]][group][key])
        for line, i in enumerate(members):
            places[i] = (*anchor, line)
    return places


def plot_frontier(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.transforms import offset_copy

    panels = (("synthetic", "psnr", f"{record['split']} PSNR (dB), higher is better"),
              ("real", "emd_lips", f"{record['split']} real-pair EMD lips, lower is better"))
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (group, key, title) in zip(axes, panels):
        networks = [row for row in record["models"] if row["kind"] == "generator" and key in row[group]]
        for row, (x, y, line) in zip(networks, _label_places(networks, group, key)):
            point = (row["gmacs"], row[group][key])
            axis.scatter(*point, s=40, zorder=3)
            shifted = offset_copy(axis.transData, fig=figure, x=6, y=4 - 11 * line, units="points")
            moved = line > 0 or point != (x, y)
            axis.annotate(row["model"], point, xytext=(x, y), textcoords=shifted, fontsize=8, va="bottom",
                          arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5} if moved else None)
        baselines = sorted((row for row in record["models"] if row["kind"] != "generator" and key in row[group]),
                           key=lambda row: row[group][key])
        values = [row[group][key] for row in record["models"] if key in row[group]]
        close = 0.04 * (max(values) - min(values))
        for index, row in enumerate(baselines):
            value = row[group][key]
            # a line with another just above it, closer than a label's height, takes its label under it
            crowded = index + 1 < len(baselines) and baselines[index + 1][group][key] - value < close
            axis.axhline(value, linestyle=":", linewidth=1, color="grey")
            axis.annotate(f"{row['model']} (no network)", (0.01, value), xycoords=("axes fraction", "data"),
                          fontsize=7, color="grey", va="top" if crowded else "bottom")
        axis.set_xscale("log")
        axis.set_xlabel("GMACs per 256 px crop (log scale)")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def replace_table(document: Path, table: str) -> None:
    text = document.read_text()
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{document} has no {TABLE_START} ... {TABLE_END} markers")
    document.write_text(pattern.sub(lambda _: f"{TABLE_START}\n{table}\n{TABLE_END}", text))


def record_latencies(record: dict) -> Path:
    """Every measured model's CPU latency into the manifest's `benchmarks.cpu` (the app's chart reads it)."""
    from makeup.weights import MANIFEST_NAME, default_weights_dir

    path = default_weights_dir() / MANIFEST_NAME
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("benchmarks", {})["cpu"] = {
        "command": "python scripts/compression_report.py",
        "machine": f"{record['cpu']}, {record['threads']} torch threads, torch {record['torch']}",
        "ms": {row["model"]: round(row["cpu_ms"], 1) for row in record["models"] if row.get("cpu_ms") is not None},
        "notes": f"{record['crop']}x{record['crop']} crops, batch 1, warm median of {record['repeats']} runs, every "
                 "model as it ships (weights trained at 128 px run at that working size inside the crop); the "
                 "networks alone: the pair stage (FaceMesh, masks, the warped reference, the example lips) is "
                 "timed by makeup bench --pipeline, classical excludes its masks and example its landmarks.",
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("cache/faces-256"))
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--triplets", type=int, default=48)
    parser.add_argument("--real-pairs", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("bench-results/compression.json"))
    parser.add_argument("--doc", type=Path, default=Path("docs/compression.md"))
    parser.add_argument("--plot", type=Path, default=Path("docs/compression-frontier.png"))
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from --json, measure nothing")
    args = parser.parse_args()

    if args.plot_only:
        plot_frontier(json.loads(args.json.read_text()), args.plot)
        print(f"(drawn from {args.json} into {args.plot})")
        return
    record = measure(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    table = markdown(record)
    print(table)
    if args.doc.is_file():
        replace_table(args.doc, table)
    plot_frontier(record, args.plot)
    manifest = record_latencies(record)
    print(f"\n(written to {args.json}, {args.doc}, {args.plot} and {manifest})")


if __name__ == "__main__":
    main()
