"""`makeup export CHECKPOINT --name beautygan`: ship a training checkpoint's generator into weights/.
`makeup export --format onnx NAME`: write a model's trained weights as an ONNX file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a checkpoint's generator to weights/ (safetensors, model card, manifest entry), or a "
        "model as ONNX",
        description="Write the generator of a training checkpoint as fp16 or fp32 safetensors into the weights "
        "folder, with its model card and manifest entry (train config, steps, data, eval metrics). With "
        "--format onnx, write a model with trained weights (a name or a .safetensors file) as an ONNX file "
        "instead: inputs source and reference, outputs transferred and demakeup, any batch and any height and "
        "width divisible by 4 (needs the onnx extra).",
    )
    parser.add_argument("checkpoint", metavar="SOURCE",
                        help="a run folder (its latest checkpoint) or a checkpoint folder; with --format onnx, a "
                        "model name (e.g. slim-s) or a .safetensors file")
    parser.add_argument("--format", choices=("safetensors", "onnx"), default="safetensors")
    parser.add_argument("-o", "--output", metavar="FILE", help="--format onnx: the file (default NAME.onnx)")
    parser.add_argument("--name", help="registry name the weights are for, e.g. beautygan (safetensors only)")
    parser.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    parser.add_argument("--weights-dir", default=None, help="default: the package's weights/ folder")
    parser.add_argument(
        "--metrics", metavar="JSON", help="eval metrics to record (a JSON object, e.g. from makeup eval)"
    )
    parser.add_argument(
        "--working-size", type=int, default=None, metavar="PX",
        help="crop size the weights run at inside larger crops (default: the run's image_size; 0: any size)",
    )
    parser.add_argument("--trained-on", default=None, help="what the data was (default: from the checkpoint's config)")
    parser.add_argument("--limitations", metavar="TEXT", default=None,
                        help="where the model still falls short, as the card's 'Known limitations' section")
    parser.add_argument("--example-lips", action="store_true",
                        help="the weights run with the example-based transfer's lips over their output "
                        "(makeup.classical.example_lips)")
    parser.add_argument("--average-with", metavar="FILE", default=None,
                        help="average the run's weights with this weights file of the same model (a soup)")
    parser.add_argument("--average-share", type=float, default=0.5, metavar="W",
                        help="with --average-with: the run's share of the average, in (0, 1] (default 0.5)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.format == "onnx":
        return _run_onnx(args)
    if not args.name:
        print("error: --name is required: the registry name the weights are for, e.g. --name beautygan",
              file=sys.stderr)
        return 2
    from makeup.train.checkpoint import CheckpointError
    from makeup.train.export import export_generator
    from makeup.weights import WeightsError

    try:
        path = export_generator(
            args.checkpoint, args.name, dtype=args.dtype, weights_dir=args.weights_dir,
            metrics_path=args.metrics, trained_on=args.trained_on, working_size=args.working_size,
            limitations=args.limitations, example_lips=args.example_lips, average_with=args.average_with,
            average_share=args.average_share,
        )
    except (CheckpointError, WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} and its manifest entry")
    return 0


def _run_onnx(args: argparse.Namespace) -> int:
    from makeup.models import UnknownModelError
    from makeup.onnx_export import OnnxUnavailableError, export_shipped
    from makeup.weights import WeightsError

    output = Path(args.output or f"{Path(args.checkpoint).stem}.onnx")
    try:
        path = export_shipped(args.checkpoint, output, weights_dir=args.weights_dir)
    except (OnnxUnavailableError, WeightsError, UnknownModelError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
