"""`makeup eval`: measure models on held-out synthetic triplets and real unpaired pairs; JSON, markdown, sheets."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

DEFAULT_OUT = Path("eval-results")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure models against ground truth and real references",
        description="Run models over held-out synthetic triplets (identities and styles never used in training) and "
        "real unpaired pairs from a prepared cache (--cache) or from face folders (--faces, prepared on the fly). "
        "Reports PSNR/SSIM against the ground truth, CIEDE2000 per region, preservation of unchanged pixels, and on "
        "real pairs the region colour distance to the reference (and the share of the source's distance left) and "
        "what was kept of the source. The identity (output = source), classical (region colour transfer) and "
        "example (example-based transfer through a mesh warp) rows are always included. Writes "
        "eval.json, eval.md and contact sheets to --out.",
    )
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--cache", type=Path, metavar="DIR", help="a cache written by `makeup prepare`")
    data.add_argument("--faces", nargs="+", type=Path, metavar="DIR",
                      help="face folders to prepare into OUT/cache first (reused by later runs on the same folders)")
    parser.add_argument("--models", nargs="*", default=None, metavar="NAME",
                        help="registered generators or .safetensors weights files (default: every generator with "
                             "trained weights); untrained ones run with random weights and are marked so")
    parser.add_argument("--size", type=int, default=256, help="crop size the models see, divisible by 4 (default 256)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}/)")
    parser.add_argument("--triplets", type=int, default=48, help="held-out synthetic triplets (default 48)")
    parser.add_argument("--real-pairs", type=int, default=24, help="real unpaired pairs (default 24)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="held-out split to evaluate on (default test; tune on val)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the identity split and held-out styles: the training run's seed (default 0), "
                             "so that held-out faces were never trained on")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if available")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per model call (default 8)")
    parser.add_argument("--weights-dir", type=Path, default=None, help="trained weights folder (default weights/)")
    parser.add_argument("--sheet-rows", type=int, default=6, help="pairs shown in each contact sheet (default 6)")
    parser.add_argument("--network-alone", action="store_true",
                        help="also a row \"NAME (network)\" for each model whose weights lay the example lips over "
                             "its output, without them: the network's own share")
    parser.set_defaults(func=run)


def _device(choice: str) -> str:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is visible to torch; use --device cpu")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def _default_models(weights_dir: Path | None) -> list[str]:
    from makeup.models import list_models
    from makeup.weights import has_weights

    return [name for name in list_models("generator") if has_weights(name, weights_dir)]


def _prepared_cache(faces: list[Path], out: Path, size: int) -> Path:
    """OUT/cache prepared from `faces`; reused when an earlier run prepared it from the same folders at `size`
    or larger."""
    from makeup.cli.prepare import prepare_cache
    from makeup.data import CacheError, FaceCache

    root, record = out / "cache", out / "cache-source.json"
    wanted = sorted(str(folder.resolve()) for folder in faces)
    try:
        same_faces = json.loads(record.read_text()).get("faces") == wanted
        if same_faces and FaceCache(root).size >= size:
            print(f"reusing the prepared cache {root} (delete it to prepare again)", file=sys.stderr)
            return root
    except (OSError, ValueError, CacheError):
        pass
    root, count, skipped = prepare_cache(faces, root, size=size)
    record.write_text(json.dumps({"faces": wanted, "size": size}))
    print(f"prepared {count} faces into {root}; skipped {len(skipped)}", file=sys.stderr)
    return root


def _command(args: argparse.Namespace, models: list[str]) -> str:
    """The command that reproduces this evaluation, every setting spelled out."""
    data = ["--cache", str(args.cache)] if args.cache is not None else ["--faces", *map(str, args.faces)]
    words = ["makeup", "eval", *data, "--models", *models, "--size", str(args.size), "--out", str(args.out),
             "--triplets", str(args.triplets), "--real-pairs", str(args.real_pairs), "--split", args.split,
             "--seed", str(args.seed)]
    if args.weights_dir is not None:
        words += ["--weights-dir", str(args.weights_dir)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from makeup.data import CacheError
    from makeup.evaluate.report import markdown_report
    from makeup.evaluate.runner import EvaluationError, run_evaluation
    from makeup.models import UnknownModelError
    from makeup.weights import WeightsError

    if args.size % 4:
        raise SystemExit(f"--size must be divisible by 4, got {args.size}")
    args.out.mkdir(parents=True, exist_ok=True)
    models = args.models if args.models is not None else _default_models(args.weights_dir)
    try:
        cache = args.cache if args.cache is not None else _prepared_cache(args.faces, args.out, args.size)
        result, written = run_evaluation(
            cache,
            models,
            args.out,
            size=args.size,
            triplets=args.triplets,
            real_pairs_count=args.real_pairs,
            split=args.split,
            seed=args.seed,
            device=_device(args.device),
            batch_size=args.batch_size,
            weights_dir=args.weights_dir,
            sheet_rows=args.sheet_rows,
            command=_command(args, models),
            network_alone=args.network_alone,
        )
    except (CacheError, EvaluationError, UnknownModelError, WeightsError) as error:
        print(f"makeup eval: {error}", file=sys.stderr)
        return 2
    print(markdown_report(result))
    for path in written.values():
        print(f"wrote {path}", file=sys.stderr)
    return 0
