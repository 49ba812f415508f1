"""`makeup export CHECKPOINT --name beautygan`: ship a training checkpoint's generator into weights/."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a checkpoint's generator to weights/ (safetensors, model card, manifest entry)",
        description="Write the generator of a training checkpoint as fp16 or fp32 safetensors into the weights "
        "folder, with its model card and manifest entry (train config, steps, data, eval metrics).",
    )
    parser.add_argument("checkpoint", help="a run folder (its latest checkpoint) or a checkpoint folder")
    parser.add_argument("--name", required=True, help="registry name the weights are for, e.g. beautygan")
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
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from makeup.train.export import export_generator

    path = export_generator(
        args.checkpoint, args.name, dtype=args.dtype, weights_dir=args.weights_dir,
        metrics_path=args.metrics, trained_on=args.trained_on, working_size=args.working_size,
        limitations=args.limitations,
    )
    print(f"wrote {path} and its manifest entry")
    return 0
