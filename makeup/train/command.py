"""The command line of a training run, shared by `python -m makeup.train` (torchrun) and `makeup train teacher`."""

from __future__ import annotations

import argparse
import os
import sys

from makeup.train.config import ConfigError, TrainConfig, load_config, parse_assignments

# explicit flags for the values people change most; everything else goes through --set key=value
FLAGS = {
    "cache": str,
    "out_dir": str,
    "generator": str,
    "image_size": int,
    "batch_size": int,
    "steps": int,
    "max_minutes": float,
    "synthetic_fraction": float,
    "perceptual_weights_path": str,
    "device": str,
    "seed": int,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="a TOML file (or a saved config.json) with config values")
    parser.add_argument(
        "--set", dest="assignments", metavar="KEY=VALUE", action="append", default=[],
        help="override any config value, e.g. --set cycle_weight=10 --set generator_options='{\"width\": 32}'",
    )
    for name, kind in FLAGS.items():
        default = getattr(TrainConfig, name, None)
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                            help=f"(default {default!r})")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out-dir")
    parser.add_argument("--init-from", metavar="CHECKPOINT", help="start from another run's checkpoint weights")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < --config file < --set assignments < explicit flags."""
    overrides: dict = parse_assignments(args.assignments)
    overrides.update({name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None})
    return load_config(args.config, overrides)


def run(args: argparse.Namespace) -> int:
    from makeup.train.trainer import train

    try:
        config = config_from_args(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from makeup.train.checkpoint import CheckpointWriteError

    try:
        finished = train(config, resume=args.resume, init_from=args.init_from)
    except CheckpointWriteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(f"stopped at step {finished.step}; run folder: {finished.run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m makeup.train", description="Train a makeup-transfer generator.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
