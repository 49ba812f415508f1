"""Copy a run's latest checkpoint as weights only (generator and discriminators), split into small files.

    python -m makeup.train.pack runs/teacher OUT_FOLDER --shard-mb 15

What comes back from a remote machine is limited in file size and count; the weights-only copy (no optimiser
state) is a third of a full checkpoint and can seed a new run (`init_from`) or be exported (`makeup export`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from makeup.train import checkpoint
from makeup.train.log import LOG_FILE


def pack(run: str | Path, output: str | Path, shard_megabytes: float = 15.0, dtype: str = "fp32") -> Path:
    """Write `output/checkpoints/step_N/` (weights only) from the latest checkpoint of `run`; return that folder.

    `dtype="bf16"` halves the size (to carry weights to another machine and continue from them there).
    """
    import torch

    if dtype not in ("fp32", "bf16"):
        raise ValueError(f"dtype must be fp32 or bf16, got {dtype!r}")
    source = checkpoint.find_checkpoint(run)
    if source is None:
        raise checkpoint.CheckpointError(f"no checkpoint found in {run}")
    state = checkpoint.read_state(source)
    tensors = checkpoint.load_model_tensors(source)
    # the stored state dicts are written as they are; no model needs to be built
    holders = {}
    for role, state_dict in tensors.items():
        if dtype == "bf16":
            state_dict = {k: v.bfloat16() if v.is_floating_point() else v for k, v in state_dict.items()}
        holder = _StateHolder(state_dict)
        holder.model_name = state["models"].get(role, role)
        holders[role] = holder
    folder = checkpoint.save_checkpoint(
        output, state["step"], holders, {}, None, config=json.loads((source / "config.json").read_text()),
        extra=state.get("extra"), max_shard_bytes=int(shard_megabytes * 2**20), include_training_state=False,
    )
    log = Path(run) / LOG_FILE
    if log.is_file():
        shutil.copy2(log, Path(output) / LOG_FILE)
    return folder


class _StateHolder:
    """Just enough of a module for `save_model_files`: a fixed state dict."""

    def __init__(self, state_dict: dict) -> None:
        self._state = state_dict

    def state_dict(self) -> dict:
        return self._state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m makeup.train.pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder (its latest checkpoint) or a checkpoint folder")
    parser.add_argument("output", help="folder to write the weights-only checkpoint into")
    parser.add_argument("--shard-mb", type=float, default=15.0, help="largest file size in MiB (default 15)")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args(argv)
    folder = pack(args.run, args.output, args.shard_mb, args.dtype)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
