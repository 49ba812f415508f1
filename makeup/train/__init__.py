"""Training: a config dataclass, a readable GAN trainer (CPU, GPU, DDP), atomic checkpoints and logs.

    from makeup.train import TrainConfig, train
    train(TrainConfig(cache="cache", out_dir="runs/teacher", image_size=128, steps=20_000))

From the shell: `makeup train teacher --cache cache --out-dir runs/teacher`, or under torchrun:
`torchrun --nproc_per_node=2 -m makeup.train --cache cache --out-dir runs/teacher`.
"""

from makeup.train.config import ConfigError, TrainConfig, apply_overrides, load_config

__all__ = ["ConfigError", "TrainConfig", "apply_overrides", "load_config", "train"]


def __getattr__(name: str):
    # the trainer pulls in torch and the models: load it on first use, so the CLI's parsers stay instant
    if name == "train":
        from makeup.train.trainer import train

        return train
    raise AttributeError(f"module 'makeup.train' has no attribute {name!r}")
