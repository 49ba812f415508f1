"""The training configuration: one dataclass whose defaults are the BeautyGAN recipe.

Values come from, in increasing priority: the defaults below, a TOML file, then `key=value` overrides (the CLI's
`--set` and explicit flags). The resolved config is saved as `config.json` beside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"


class ConfigError(ValueError):
    """A config file or override names an unknown key or gives a value of the wrong type."""


@dataclass
class TrainConfig:
    """Everything a training run depends on. Loss weights are the effective weights of BeautyGAN's code."""

    # data: a prepared cache (`makeup prepare`); synthetic triplets are rendered from it on the fly
    cache: str = "cache"
    out_dir: str = "runs/teacher"
    image_size: int = 256
    synthetic_fraction: float = 0.5  # share of samples that are synthetic triplets; the rest are real pairs
    samples_per_epoch: int = 4096  # pairs are drawn at random per (seed, epoch, index): an epoch is any length
    # mix of synthetic looks, look name -> weight (`makeup.synth.LOOKS`, e.g. {everyday = 1, bold-eyes = 1});
    # empty: the usual mix, `makeup.synth.LOOK_WEIGHTS`
    synthetic_look_weights: dict[str, float] = field(default_factory=dict)
    num_workers: int = 2
    augment: bool = True

    # models: any registered generator can be trained (the teacher or a student from scratch)
    generator: str = "beautygan"
    generator_options: dict[str, Any] = field(default_factory=dict)
    # generator submodule -> a model with trained weights (registry name or .safetensors file) whose same-named
    # submodule it starts from (e.g. {decoder = "decomposed"} for ddb-student); applied when a run starts
    init_modules: dict[str, str] = field(default_factory=dict)
    # generator submodules that never train (e.g. ["decoder"]: ddb-student's borrowed decoder)
    frozen_modules: list[str] = field(default_factory=list)
    # a trained beautygan (registry name or .safetensors file) whose residual-block kernels a `decomposed`
    # generator starts from (`makeup.distill.decompose`: rank-1 depthwise kernels, calibrated on the first training
    # samples); its other parts are copied. Applied when a run starts from step 0.
    init_decomposition: str = ""
    discriminator: str = "patchgan"
    discriminator_options: dict[str, Any] = field(default_factory=dict)

    # optimisation (BeautyGAN: Adam 2e-4, betas 0.5/0.999, batch 1; linear decay to zero after `decay_start`)
    batch_size: int = 1
    steps: int = 100_000
    max_minutes: float = 0.0  # stop cleanly (with a checkpoint) after this much wall-clock time; 0: no limit
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    warmup_steps: int = 0  # learning rates rise linearly from 0 over these first steps; 0: no warm-up
    decay_start: int = 0  # step at which the learning rates start decaying linearly to 0 at `steps`; 0: never
    grad_clip: float = 0.0  # max gradient norm; 0: no clipping

    # loss weights: cycle 10 x 0.5, identity 10 x 0.5 x 0.5 per image, makeup (histogram) loss per region:
    # lips 1, skin 0.1, each eye-shadow side 1. BeautyGAN's code fed [-1, 1] images to a Caffe VGG, so its
    # perceptual weight does not carry over: with correctly scaled relu4_1 features (MSE about 200 between an
    # untrained output and its source) 0.01 makes the term about as strong as the cycle term at the start.
    adversarial_weight: float = 1.0
    cycle_weight: float = 5.0
    identity_weight: float = 2.5
    perceptual_weight: float = 0.01  # output vs source (content)
    paired_weight: float = 10.0  # synthetic triplets: output vs ground truth
    paired_distance: str = "l1"  # "l1" or "l2" (squared error; see makeup.losses.paired_l2_loss)
    paired_region_weight: float = 0.0  # extra paired weight on lip and eye-shadow pixels (not in BeautyGAN)
    paired_outside_weight: float = 0.0  # extra paired weight outside every makeup region (not in BeautyGAN)
    paired_lips_weight: float = 0.0  # extra weight on the lip pixels of the synthetic ground truth alone
    paired_perceptual_weight: float = 0.01
    # real pairs: the paired distance to an example-based pseudo target (makeup.classical.example), with the paired
    # term's region and outside weights; above 0 the data workers compute the targets (not in BeautyGAN)
    pseudo_target_weight: float = 0.0
    pseudo_target_distance: str = "l2"  # "l1" or "l2"
    pseudo_target_lips_weight: float = 0.0  # extra weight on the lip pixels of the pseudo targets alone
    # share of real pairs whose reference's lips get another shade first (makeup.data.augment.recolour_lips): lip
    # colours the few real references lack, with pseudo targets that follow (not in BeautyGAN)
    real_lip_recolour: float = 0.0
    # share of real pairs whose reference is another bare training face wearing the real reference's makeup (the
    # example-based transfer): the few real looks on many faces, so that they are not learnt per face
    real_makeup_transplant: float = 0.0
    # every reference moved onto its source's geometry (the FaceMesh warp of makeup.classical.correspondence) before
    # the generator sees it, so copying makeup becomes local; the weights record it and inference warps the same
    # way (makeup.models.reference_input). Not in BeautyGAN, which leaves correspondence to the network
    warp_reference: bool = False
    preservation_weight: float = 0.0  # real pairs: L1 to the source outside the makeup regions (not in BeautyGAN)
    histogram_weights: tuple[float, float, float, float] = (1.0, 0.1, 1.0, 1.0)
    histogram_on_synthetic: bool = False  # the synthetic samples have ground truth; real pairs need the histogram
    # scale each real pair's histogram terms per region by how made up its reference looks there (0..1,
    # makeup.classical.example.reference_makeup): bare lips or lids on a reference ask for nothing
    histogram_gate: bool = False
    perceptual_backbone: str = "vgg16"  # "vgg16" (needs perceptual_weights_path), "tiny-random" or "none"
    perceptual_weights_path: str = ""

    # distillation (makeup.distill): a frozen teacher, a registry name with shipped weights or a .safetensors
    # file ("": none); each term is on when its weight is above 0. Layers map student feature names to the
    # teacher's (both models' `encode` keys); relation matrices of maps above distill_max_side are pooled.
    teacher: str = ""
    distill_output_weight: float = 0.0
    # the perceptual part of output distillation (needs perceptual_backbone); L1 alone at 0
    distill_output_perceptual_weight: float = 0.0
    distill_feature_weight: float = 0.0
    distill_relation_weight: float = 0.0
    # collaborative distillation: student features feed the teacher's frozen decoder through 1x1 embeddings
    # (conv + ReLU with distill_collaborative_relu, as in the published BeautyGAN student)
    distill_collaborative_weight: float = 0.0
    distill_collaborative_relu: bool = False
    distill_layers: dict[str, str] = field(
        default_factory=lambda: {"source_half": "source_half", "reference_half": "reference_half"})
    distill_max_side: int = 64

    # speed and reproducibility
    device: str = "auto"  # "auto": cuda when available, else cpu
    precision: str = "auto"  # "auto": bf16 autocast on cuda and on CPUs with AMX, else fp32; or "bf16", "fp16", "fp32"
    channels_last: str = "auto"  # "auto": on cuda only; or "on", "off"
    seed: int = 0  # the identity split, the held-out styles and the synthetic draws
    # the initial weights and the sample order; -1: `seed`. Changing only this reruns the same data and split,
    # which measures the seed-to-seed spread of a recipe
    init_seed: int = -1
    deterministic: bool = False  # deterministic kernels (CPU runs are reproducible either way)

    # outputs
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500  # also on stopping; 0: never (speed measurements)
    keep_checkpoints: int = 2
    shard_megabytes: float = 0.0  # split checkpoint tensors into files of at most this size; 0: one file
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Give `value` (a string from the CLI or a TOML value) the type of the field's default."""
    if isinstance(value, str) and not isinstance(default, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            if isinstance(default, bool) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
                value = value.lower() in ("true", "yes", "on")
            else:
                raise ConfigError(f"config {name}: cannot read {value!r} as a {type(default).__name__}") from None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config {name} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, (list, tuple)):
        if len(value) != len(default):
            raise ConfigError(f"config {name} needs {len(default)} values, got {len(value)}")
        return tuple(float(item) for item in value)
    if not isinstance(value, type(default)) or (isinstance(value, bool) and not isinstance(default, bool)):
        raise ConfigError(f"config {name} must be a {type(default).__name__}, got {value!r}")
    return value


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A copy of `config` with `overrides` (field name -> value, strings parsed as JSON where needed) applied."""
    defaults = config.to_dict()
    changes = {}
    for name, value in overrides.items():
        if name not in defaults:
            raise ConfigError(f"unknown config key {name!r}; known keys: {', '.join(sorted(defaults))}")
        changes[name] = _coerce(name, value, defaults[name])
    if "synthetic_look_weights" in changes:
        _check_look_weights(changes["synthetic_look_weights"])
    return dataclasses.replace(config, **changes)


def _check_look_weights(look_weights: dict[str, Any]) -> None:
    """Fail at load time, with the config key named, rather than when the dataset is built."""
    from makeup.data.triplets import look_probabilities

    if look_weights:
        try:
            look_probabilities(look_weights)
        except ValueError as error:
            raise ConfigError(f"config synthetic_look_weights: {error}") from None


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """`["steps=100", "cache=/data"]` -> `{"steps": "100", "cache": "/data"}`."""
    parsed = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"expected key=value, got {item!r}")
        parsed[name.strip()] = value
    return parsed


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the TOML or JSON file at `path` (a saved `config.json` works), then `overrides`."""
    config = TrainConfig()
    if path:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        text = path.read_text()
        if path.suffix == ".json":
            values = json.loads(text)
        else:
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise ConfigError(f"reading {path} needs Python 3.11 (tomllib); use a JSON config instead") from None
            try:
                values = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{path} is not valid TOML: {error}") from error
        config = apply_overrides(config, values)
    return apply_overrides(config, overrides or {})
