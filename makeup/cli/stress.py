"""`makeup stress`: the real app under concurrent clients, good photos mixed with bad uploads."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stress",
        help="load-test the app: concurrent gradio_client clients, bad uploads mixed in; table + JSON",
        description="Start demo/app.py on 127.0.0.1 in its own process and drive its /transfer endpoint from "
                    "concurrent clients: a clean phase, then a phase with bad uploads mixed in. Prints requests "
                    "served, outcomes, latency, the server's memory and its cache, and writes JSON. Exits 1 if "
                    "any request ends in an unexpected way or the server dies.",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="per client, in the mixed phase")
    parser.add_argument("--baseline-requests", type=int, default=5, help="per client, in the clean phase")
    parser.add_argument("--bad-fraction", type=float, default=0.25)
    parser.add_argument("--model", help="default: the app's default model")
    parser.add_argument("--cache-lifetime", type=int, default=60, metavar="SECONDS",
                        help="the server's cache lifetime; the run waits one lifetime at the end to check the "
                        "cache empties (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-results/stress.json"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from makeup.bench.stress import StressConfig, format_summary, run_stress, write_report

    config = StressConfig(clients=args.clients, requests=args.requests, baseline_requests=args.baseline_requests,
                          bad_fraction=args.bad_fraction, model=args.model, seed=args.seed,
                          cache_lifetime_s=args.cache_lifetime)
    summary = write_report(run_stress(config), args.out)
    print(format_summary(summary))
    for example in summary["unexpected_examples"]:
        print(f"unexpected: {example}")
    print(f"written: {args.out}")
    return 0 if summary["unexpected"] == 0 and summary["server_alive"] else 1
