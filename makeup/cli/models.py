"""`makeup models`: the model zoo as a table (params, MACs, what each is for, whether trained weights ship)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the registered models with params, MACs and weights status",
        description="List the registered models. MACs are at 256x256, batch 1, both inputs for generators. "
                    "Give a model name to see its whole card.",
    )
    parser.add_argument("name", nargs="?", help="show the full card of this model")
    parser.add_argument("--kind", choices=("generator", "discriminator", "classical"), help="only this kind")
    parser.add_argument("--weights-dir", type=Path, help="weights folder (default: $MAKEUP_WEIGHTS_DIR or weights/)")
    parser.set_defaults(func=run)


def models_table(names: list[str], weights_dir: Path | None = None) -> str:
    """A markdown table of the cards of `names` with their weights status."""
    from makeup.models import get_card
    from makeup.weights import weights_status

    lines = [
        "| model | kind | params (M) | GMACs @256 | method | weights |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for name in names:
        card = get_card(name)
        lines.append(f"| {name} | {card.kind} | {card.params / 1e6:.3f} | {card.gmacs:.2f} | {card.method} | "
                     f"{weights_status(name, weights_dir)} |")
    return "\n".join(lines)


def card_text(name: str, weights_dir: Path | None = None) -> str:
    """Every field of one model card, one per line."""
    from dataclasses import asdict

    from makeup.models import get_card
    from makeup.weights import weights_status

    fields = asdict(get_card(name))
    fields["weights"] = weights_status(name, weights_dir)
    width = max(map(len, fields))
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in fields.items())


def run(args: argparse.Namespace) -> int:
    from makeup.models import UnknownModelError, list_models

    try:
        if args.name:
            print(card_text(args.name, args.weights_dir))
        else:
            print(models_table(list_models(args.kind), args.weights_dir))
    except UnknownModelError as error:
        print(f"error: {error}")
        return 2
    return 0
