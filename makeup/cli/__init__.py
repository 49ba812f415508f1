"""The `makeup` console script: one sub-command per module in this package.

Each sub-command module defines `add_parser(subparsers)`, which registers its parser and sets `func`
(called with the parsed arguments, returning an exit code). Heavy imports (torch, cv2, gradio) happen inside
`func`, so `makeup --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (command, module under makeup.cli). Order is the order `makeup --help` lists them in.
SUBCOMMANDS = [
    ("models", "models"),
    ("bench", "bench"),
    ("transfer", "transfer"),
    ("prepare", "prepare"),
    ("train", "train"),
    ("export", "export"),
    ("plot-log", "plot_log"),
    ("eval", "eval"),
    ("stress", "stress"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="makeup",
        description="Facial makeup transfer: models, benchmarks, transfer, data preparation, training and evaluation.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _, module_name in SUBCOMMANDS:
        importlib.import_module(f"makeup.cli.{module_name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
