"""The distillation ablation: one student trained by several recipes that differ only in their distillation terms,
with the same steps, data and seed, and val curves for each.

    python scripts/ablation.py [--config configs/slim-s-cpu.toml] [--steps 400] [--points 4]
                               [--arms data kd cd srp all data-seed1] [--out runs/ablation]
    python scripts/ablation.py --report-only    # re-measure the runs already in --out

Arms: `data` learns from the data alone (synthetic ground truth, and the pseudo targets of real pairs when the
config weights them), `kd` adds output distillation, `cd` collaborative distillation, `srp` semantic-relation
distillation, `all` the three; `outputs` learns from the teacher's outputs alone; `data-seed1` is `data` again
with other initial weights and sample order (`init_seed`), to show the seed-to-seed spread. A run already in
--out resumes; one that has finished is only measured. Each arm's checkpoints at --points even steps are measured
on the val split (synthetic triplets and real pairs of the prepared 256 px cache, at the crop size the pipeline
uses). Writes OUT/ablation.json, prints a markdown table and saves the curves as OUT/ablation-curves.png. It
trains for a long time: run it on purpose, not as a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ARMS = {
    "data": ("none", {}),
    "kd": ("kd", {}),
    "cd": ("cd", {}),
    "srp": ("srp", {}),
    "all": ("kd,cd,srp", {}),
    "data-seed1": ("none", {"init_seed": 1}),
    # the teacher's outputs alone: no synthetic ground truth, no pseudo targets of real pairs
    "outputs": ("kd", {"paired_weight": 0.0, "pseudo_target_weight": 0.0}),
}
CURVE_METRICS = (("synthetic", "psnr", "val PSNR (dB)"), ("synthetic", "de_lips", "val ΔE00 lips"),
                 ("real", "emd_lips", "val real EMD lips"), ("real", "emd_eyeshadow", "val real EMD eye shadow"))


def train_arm(name: str, args: argparse.Namespace) -> None:
    methods, extra = ARMS[name]
    run_dir = args.out / name
    every = max(1, args.steps // args.points)
    command = [sys.executable, "-m", "makeup", "train", "student", "--arch", args.arch, "--config", str(args.config),
               "--methods", methods, "--out-dir", str(run_dir), "--steps", str(args.steps),
               "--set", f"decay_start={args.steps * 3 // 4}", "--set", f"checkpoint_every={every}",
               "--set", f"keep_checkpoints={args.points + 1}", "--set", "max_minutes=0",
               "--set", f"sample_every={args.steps}"]
    for assignment in args.assignments:  # the same for every arm
        command += ["--set", assignment]
    for key, value in extra.items():  # after them: an arm's own settings win
        command += ["--set", f"{key}={value}"]
    if (run_dir / "checkpoints").is_dir():
        command.append("--resume")
    print(f"[{name}] {' '.join(command[2:])}", flush=True)
    subprocess.run(command, check=True)


def checkpoint_generators(run_dir: Path):
    """(step, generator ready for 256 px crops) for every checkpoint of a run, oldest first."""
    from makeup.models import create_model
    from makeup.models.working_size import AtWorkingSize
    from makeup.train import checkpoint

    config = json.loads((run_dir / "config.json").read_text())
    for folder in sorted((run_dir / "checkpoints").glob("step_*")):
        if not (folder / checkpoint.STATE_FILE).is_file():
            continue
        generator = create_model(config["generator"], **config["generator_options"])
        checkpoint.load_models(folder, {"generator": generator})
        generator.eval()
        # what the exported weights would record, so a student of warped references is measured on them
        wrapped = AtWorkingSize(generator, config["image_size"]) if config["image_size"] < 256 else generator
        wrapped.training_summary = {"config": config}
        yield int(folder.name.split("_")[1]), wrapped


def measure(args: argparse.Namespace, arms: list[str]) -> dict:
    from makeup.data import FaceCache
    from makeup.evaluate.runner import EvalModel, evaluate_models, held_out_triplets, real_pairs

    faces = FaceCache(args.cache)
    triplets = held_out_triplets(faces, args.triplets, 256, split="val", seed=0)
    pairs = real_pairs(faces, args.real_pairs, 256, split="val", seed=0)
    curves: dict[str, list[dict]] = {}
    for name in arms:
        run_dir = args.out / name
        if not (run_dir / "checkpoints").is_dir():
            continue
        points = []
        for step, generator in checkpoint_generators(run_dir):
            model = EvalModel(f"{name}@{step}", "generator", "checkpoint", module=generator)
            result, _ = evaluate_models([model], triplets, pairs, sheet_rows=0)
            points.append({"step": step, "synthetic": result["synthetic"]["rows"][0]["metrics"],
                           "real": result["real"]["rows"][0]["metrics"] if pairs else {}})
            print(f"[{name}] step {step}: val PSNR {points[-1]['synthetic']['psnr']:.2f}", flush=True)
        curves[name] = points
    # the steps the arms actually reached: with --report-only, --steps is only the default
    last_steps = sorted({points[-1]["step"] for points in curves.values() if points})
    steps = last_steps[0] if len(last_steps) == 1 else args.steps
    return {"arch": args.arch, "config": str(args.config), "steps": steps, "split": "val",
            "triplets": len(triplets), "real_pairs": len(pairs), "cache": str(args.cache), "curves": curves}


def markdown(record: dict) -> str:
    lines = [f"Val split ({record['triplets']} synthetic triplets, {record['real_pairs']} real pairs), last "
             f"checkpoint of each arm ({record['steps']} steps):", "",
             "| arm | PSNR (dB) | ΔE00 lips | ΔE00 eye shadow | real EMD lips | real EMD eye shadow |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, points in record["curves"].items():
        if not points:
            continue
        synthetic, real = points[-1]["synthetic"], points[-1]["real"]
        lines.append(f"| {name} | {synthetic['psnr']:.2f} | {synthetic['de_lips']:.2f} | "
                     f"{synthetic['de_eyeshadow']:.2f} | {real.get('emd_lips', float('nan')):.2f} | "
                     f"{real.get('emd_eyeshadow', float('nan')):.2f} |")
    return "\n".join(lines)


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(4.2 * len(CURVE_METRICS), 3.4))
    for axis, (group, key, label) in zip(axes, CURVE_METRICS):
        for name, points in record["curves"].items():
            steps = [point["step"] for point in points if key in point[group]]
            values = [point[group][key] for point in points if key in point[group]]
            axis.plot(steps, values, marker="o", label=name, linestyle="--" if "seed" in name else "-")
        axis.set_xlabel("step")
        axis.set_title(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"{record['arch']}: distillation ablation on the val split")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/slim-s-cpu.toml"))
    parser.add_argument("--arch", default="slim-s")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--points", type=int, default=4, help="checkpoints measured per arm")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--cache", type=Path, default=Path("cache/faces-256"), help="the cache measured on")
    parser.add_argument("--triplets", type=int, default=24)
    parser.add_argument("--real-pairs", type=int, default=12)
    parser.add_argument("--report-only", action="store_true", help="measure the runs in --out without training")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="a config value for every arm, e.g. distill_max_side=32 (relation matrices of 32x32 "
                             "positions: at 64x64 they make a CPU step 13x slower)")
    args = parser.parse_args()

    if not args.report_only:
        for name in args.arms:
            train_arm(name, args)
    record = measure(args, args.arms)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps(record, indent=2) + "\n")
    plot(record, args.out / "ablation-curves.png")
    print(markdown(record))
    print(f"\n(written to {args.out / 'ablation.json'} and {args.out / 'ablation-curves.png'})")


if __name__ == "__main__":
    main()
