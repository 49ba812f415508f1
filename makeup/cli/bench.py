"""`makeup bench`: params, MACs, FLOPs, latency and peak memory of every registered model, one table per device.

Each table is built by one function returning a JSON-able record and rendered by another, so further tables
(e.g. the whole pipeline) slot in beside `models_record` / `models_markdown`.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

TEACHER = "beautygan"
DEFAULT_RESULTS_DIR = Path("bench-results")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure params, MACs, FLOPs and latency of every model",
        description="Measure every registered model (or --models) on this machine: params, GMACs and GFLOPs at "
                    "--size (batch 1, both inputs for generators), median latency under torch.inference_mode and "
                    "peak memory, with ratios to the beautygan teacher measured in the same run. Prints a "
                    "markdown table per device and writes it as JSON.",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: the CPU, and the GPU too when there is one (default)")
    parser.add_argument("--size", type=int, default=256, help="input height and width, divisible by 4 (default 256)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per model; the median is reported")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing (default 3)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads during timing (default 2, the machine the README figures come from)")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only these models (the teacher is always added)")
    parser.add_argument("--onnx", action="store_true",
                        help="also time each generator exported to ONNX, run by onnxruntime on the CPU with the same "
                             "threads (needs the onnx extra)")
    parser.add_argument("--pipeline", action="store_true",
                        help="measure the whole transfer pipeline instead (1 and 12 MP photos with the teacher and "
                             "every shipped student (or --models), per stage, and a 40 MP photo with peak memory)")
    parser.add_argument("--video", action="store_true",
                        help="frames per second end to end through a clip (640x480 and 1280x720) for the teacher and "
                             "every shipped student (or --models), per stage, with flicker and lag")
    parser.add_argument("--detection", action="store_true",
                        help="compare largest-face detection on a small copy with detection at full size on the "
                             "development faces (--faces), scaled into 1 and 12 MP photos")
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces"),
                        help="face photos for --detection (default ../shared/data/faces)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="JSON output; with several devices '-<device>' is added before the suffix "
                             "(default: bench-results/models-<device>.json)")
    parser.set_defaults(func=run)


def resolve_devices(choice: str) -> list[str]:
    """The devices to measure on: `auto` is the CPU plus CUDA when available."""
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA GPU is visible to torch; use --device cpu")
    if choice == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    return [choice]


def device_name(device: str) -> str:
    """The CPU model or GPU name, for the record."""
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _measure_model(name: str, device: str, size: int, repeats: int, warmup: int, threads: int,
                   onnx: bool = False) -> dict[str, Any]:
    import torch

    from makeup.models import create_model, get_card
    from makeup.bench.profile import count_flops, count_params, example_inputs, measure_latency, measure_peak_memory_mb

    card = get_card(name)
    torch.manual_seed(0)
    model = create_model(name)
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    inputs = example_inputs(card.kind, size=size, device=device)
    flops = count_flops(model, *inputs)
    latency = measure_latency(model, inputs, repeats=repeats, warmup=warmup, threads=threads)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        peak_mb = measure_peak_memory_mb(model, inputs)
    finally:
        torch.set_num_threads(previous_threads)
    onnx_ms = None
    if onnx and card.kind == "generator" and device == "cpu":
        onnx_ms = _onnx_latency_ms(model, inputs, repeats, warmup, threads)
    return {
        "model": name,
        "kind": card.kind,
        "params": count_params(model) if isinstance(model, torch.nn.Module) else 0,
        "gmacs": flops / 2e9,
        "gflops": flops / 1e9,
        "median_ms": latency.median_ms,
        "min_ms": latency.min_ms,
        "max_ms": latency.max_ms,
        "peak_mb": peak_mb,
        "onnx_ms": onnx_ms,
    }


def _onnx_latency_ms(model, inputs, repeats: int, warmup: int, threads: int) -> float:
    """Median latency of `model` exported to ONNX and run by onnxruntime with `threads` intra-op threads."""
    import tempfile

    from makeup.onnx_export import OnnxGenerator, export_onnx
    from makeup.bench.profile import measure_latency

    with tempfile.TemporaryDirectory() as folder:
        runner = OnnxGenerator(export_onnx(model, Path(folder) / "model.onnx"), threads=threads)
        return measure_latency(runner, inputs, repeats=repeats, warmup=warmup).median_ms


def models_record(device: str, size: int = 256, repeats: int = 10, warmup: int = 3, threads: int = 2,
                  names: list[str] | None = None, onnx: bool = False) -> dict[str, Any]:
    """Measure models on `device` and return the record behind the models table (JSON-able).

    Ratios compare with the teacher measured in this same run: `macs_ratio` is how many times fewer MACs (for
    generators), `speedup` how many times faster (for generators and classical methods); None where the
    comparison means nothing (a discriminator does another job; a classical method's few MACs are not convs).
    """
    import torch

    from makeup.models import list_models

    names = list(names) if names else list_models()
    if TEACHER not in names:
        names.insert(0, TEACHER)
    rows = [_measure_model(name, device, size, repeats, warmup, threads, onnx) for name in names]
    teacher = next(row for row in rows if row["model"] == TEACHER)
    for row in rows:
        row["macs_ratio"] = teacher["gmacs"] / row["gmacs"] if row["kind"] == "generator" else None
        row["speedup"] = teacher["median_ms"] / row["median_ms"] if row["kind"] != "discriminator" else None
        row["onnx_speedup"] = teacher["median_ms"] / row["onnx_ms"] if row["onnx_ms"] else None
    return {
        "table": "models",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "size": size,
        "batch": 1,
        "repeats": repeats,
        "warmup": warmup,
        "threads": threads if device == "cpu" else None,
        "teacher": TEACHER,
        "rows": rows,
    }


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def models_markdown(record: dict[str, Any]) -> str:
    """The models table of a `models_record` as markdown, with a line saying what and where it measured."""
    threads = f", {record['threads']} threads" if record["threads"] else ""
    onnx = any(row.get("onnx_ms") for row in record["rows"])
    onnx_header = " ONNX ms | ONNX speed-up vs teacher (PyTorch) |" if onnx else ""
    lines = [
        f"Models at {record['size']}x{record['size']}, batch 1, both inputs for generators; "
        f"{record['device']} ({record['device_name']}{threads}), torch {record['torch']}, median of "
        f"{record['repeats']} after {record['warmup']} warm-up runs; ratios against {record['teacher']} from "
        f"this run.",
        "",
        "| model | kind | params (M) | GMACs | GFLOPs | ms | peak MiB | MACs vs teacher | speed-up vs teacher |"
        + onnx_header,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if onnx else ""),
    ]
    for row in record["rows"]:
        peak = "-" if row["peak_mb"] is None else f"{row['peak_mb']:.0f}"
        lines.append(
            f"| {row['model']} | {row['kind']} | {row['params'] / 1e6:.3f} | {row['gmacs']:.2f} | "
            f"{row['gflops']:.2f} | {row['median_ms']:.1f} | {peak} | {_ratio(row['macs_ratio'])} | "
            f"{_ratio(row['speedup'])} |"
            + (f" {_ms(row.get('onnx_ms'))} | {_ratio(row.get('onnx_speedup'))} |" if onnx else "")
        )
    return "\n".join(lines)


def json_path(requested: Path | None, table: str, device: str, several_devices: bool) -> Path:
    """Where a table's JSON goes: `--json` (with '-<device>' added when several devices run) or the default."""
    if requested is None:
        return DEFAULT_RESULTS_DIR / f"{table}-{device}.json"
    return requested.with_name(f"{requested.stem}-{device}{requested.suffix}") if several_devices else requested


def write_json(record: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from makeup.models import UnknownModelError, get_card

    if args.size <= 0 or args.size % 4:
        print(f"error: --size must be a positive multiple of 4, got {args.size}")
        return 2
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        print("error: --repeats and --threads must be at least 1 and --warmup at least 0")
        return 2
    try:
        for name in args.models or []:
            get_card(name)
        devices = resolve_devices(args.device)
    except (UnknownModelError, RuntimeError) as error:
        print(f"error: {error}")
        return 2
    if args.onnx:
        from makeup.onnx_export import OnnxUnavailableError, require_onnx

        try:
            require_onnx()
        except OnnxUnavailableError as error:
            print(f"error: {error}")
            return 2
    if args.pipeline:
        return run_pipeline(args, devices)
    if args.detection:
        return run_detection(args)
    if args.video:
        return run_video(args, devices)
    for device in devices:
        record = models_record(device, args.size, args.repeats, args.warmup, args.threads, args.models,
                               onnx=args.onnx)
        path = json_path(args.json, "models", device, len(devices) > 1)
        write_json(record, path)
        print(models_markdown(record))
        print(f"\n(written to {path})\n")
    return 0


def run_video(args: argparse.Namespace, devices: list[str]) -> int:
    """`makeup bench --video`: frame rates and steadiness per model (makeup.bench.video)."""
    from makeup.bench.pipeline import shipped_students
    from makeup.bench.video import video_markdown, video_record

    models = [TEACHER, *[name for name in (args.models or shipped_students()) if name != TEACHER]]
    for device in devices:
        record = video_record(models, device, device_name(device), threads=args.threads)
        path = json_path(args.json, "video", device, len(devices) > 1)
        write_json(record, path)
        print(video_markdown(record))
        print(f"\n(written to {path})\n")
    return 0


def run_detection(args: argparse.Namespace) -> int:
    """`makeup bench --detection`: the quick detection pass against full-size detection (makeup.bench.detection)."""
    from makeup.bench.detection import detection_markdown, detection_record

    if not args.faces.is_dir():
        print(f"error: --faces {args.faces} is not a folder of face photos")
        return 2
    record = detection_record(args.faces, threads=args.threads)
    path = json_path(args.json, "detection", "cpu", False)
    write_json(record, path)
    print(detection_markdown(record))
    print(f"\n(written to {path})\n")
    return 0


def run_pipeline(args: argparse.Namespace, devices: list[str]) -> int:
    """`makeup bench --pipeline`: the pipeline table per device (see makeup.bench.pipeline)."""
    from makeup.bench.pipeline import pipeline_markdown, pipeline_record

    models = [TEACHER, *[name for name in args.models if name != TEACHER]] if args.models else None
    for device in devices:
        record = pipeline_record(device, device_name(device), repeats=args.repeats, warmup=max(args.warmup, 1),
                                 threads=args.threads, models=models)
        path = json_path(args.json, "pipeline", device, len(devices) > 1)
        write_json(record, path)
        print(pipeline_markdown(record))
        print(f"\n(written to {path})\n")
    return 0
