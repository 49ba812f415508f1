"""`makeup plot-log RUN`: draw a training run's loss curves from its JSONL log."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plot-log", help="draw the loss curves of a training run (needs matplotlib)")
    parser.add_argument("log", help="a run folder or its log.jsonl")
    parser.add_argument("-o", "--output", help="image to write (default: losses.png beside the log)")
    parser.add_argument("--smooth", type=int, default=1, help="moving-average window in log lines (default 1)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from makeup.train.plot import plot_log

    print(f"wrote {plot_log(args.log, args.output, args.smooth)}")
    return 0
