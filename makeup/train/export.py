"""Ship a training checkpoint's generator: safetensors in weights/, a manifest entry and a model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from makeup.train import checkpoint
from makeup.train.log import LOG_FILE, read_log

DTYPES = ("fp16", "fp32")


def _cache_summary(cache: str) -> dict[str, Any]:
    """Counts of faces by kind in the prepared cache the run read, when it is still at hand."""
    meta = Path(cache) / "meta.json"
    if not meta.is_file():
        return {"cache": cache}
    faces = json.loads(meta.read_text()).get("faces", [])
    kinds: dict[str, int] = {}
    for face in faces:
        kinds[face.get("kind", "?")] = kinds.get(face.get("kind", "?"), 0) + 1
    return {"cache": cache, "faces": len(faces), "kinds": kinds}


def _last_losses(run_dir: Path) -> dict[str, float]:
    log = run_dir / LOG_FILE
    if not log.is_file():
        return {}
    records = [record for record in read_log(log) if "step" in record]
    return {key: round(value, 5) for key, value in records[-1].items() if key.startswith("loss/")} if records else {}


def export_generator(
    source: str | Path,
    name: str,
    dtype: str = "fp16",
    weights_dir: str | Path | None = None,
    metrics_path: str | Path | None = None,
    trained_on: str | None = None,
    working_size: int | None = None,
    limitations: str | None = None,
    example_lips: bool = False,
    average_with: str | Path | None = None,
    average_share: float = 0.5,
) -> Path:
    """Load the generator of the checkpoint at `source` and save it with `makeup.weights.save_weights`.

    The training summary (config, steps, data, last logged losses) goes into the file's metadata; `trained_on`
    and the metrics of `metrics_path` (a JSON object) into the manifest; a markdown card is written beside it.
    `working_size` (default: the run's `image_size`) is the crop size the weights will run at inside larger
    crops (`makeup.models.working_size`); 0 lets them run at any input size as they are. `limitations` (where
    the model still falls short) becomes a section of the card. `example_lips` records that the weights run with
    the example-based transfer's lips over their output (`makeup.classical.example_lips`). `average_with` (a weights
    file of the same architecture, e.g. the run's starting point) averages the two: `average_share` of this run,
    the rest of that file's (a weight soup, Wortsman et al., ICML 2022).
    """
    import torch

    from makeup.models import create_model, get_card
    from makeup.weights import save_weights

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    folder = checkpoint.find_checkpoint(source)
    if folder is None:
        raise checkpoint.CheckpointError(f"no training checkpoint found at {source}")
    state = checkpoint.read_state(folder)
    config = json.loads((folder / "config.json").read_text())
    trained = state["models"].get("generator")
    if trained != name:
        raise checkpoint.CheckpointError(
            f"{folder} holds a {trained!r} generator, not {name!r}: export it with --name {trained}"
        )
    generator = create_model(name, **config.get("generator_options", {}))
    checkpoint.load_models(folder, {"generator": generator})
    if average_with is not None:
        _average(generator, name, Path(average_with), average_share)
    metrics = json.loads(Path(metrics_path).read_text()) if metrics_path else {}
    if not isinstance(metrics, dict):
        raise ValueError(f"{metrics_path} must hold a JSON object of metrics")
    run_dir = folder.parent.parent
    data = _cache_summary(config.get("cache", ""))
    if trained_on is None:
        fraction = config.get("synthetic_fraction")
        real = ("real makeup references with example-based pseudo targets" if config.get("pseudo_target_weight")
                else "real unpaired makeup references")
        mix = ("synthetic makeup triplets only" if fraction == 1.0 else
               f"synthetic makeup triplets ({fraction}) and {real}")
        trained_on = (
            f"{data.get('faces', '?')} faces of the prepared cache {Path(config.get('cache', '')).name!r}: {mix}, "
            f"{config.get('image_size')} px"
        )
    training = {"steps": state["step"], "config": config, "data": data, "last_losses": _last_losses(run_dir),
                "started_from": checkpoint.read_start(run_dir)}
    if average_with is not None:
        training["averaged_with"] = {"file": Path(average_with).name, "share_of_this_run": average_share}
    if example_lips:
        training["inference"] = {"example_lips": True}
    if working_size is None:
        working_size = int(config.get("image_size", 0))
    path = save_weights(
        generator, name, weights_dir, dtype=torch.float16 if dtype == "fp16" else torch.float32,
        training=training, trained_on=trained_on, metrics=metrics, working_size=working_size or None,
    )
    _write_card(path.with_suffix(".md"), get_card(name), training, trained_on, metrics, dtype, working_size,
                limitations)
    return path


def _average(generator, name: str, other_path: Path, share: float) -> None:
    """`generator`'s parameters become `share` of their own plus the rest of `other_path`'s, in place. A
    parameter the other file may lack (the generator's `zero_started_parameters`, such as copy gates added in this
    run) counts as zero there, so it opens only as far as the share."""
    import torch

    from makeup.weights import load_weights_file

    if not 0.0 < share <= 1.0:
        raise ValueError(f"average_share is this run's share of the average, in (0, 1]; got {share}")
    other = load_weights_file(other_path, name, at_working_size=False).state_dict()
    state = generator.state_dict()
    optional = getattr(generator, "zero_started_parameters", ())
    lacking = [key for key in state if key not in other and not key.startswith(optional)]
    unknown = sorted(set(other) - set(state))
    if unknown or lacking:
        raise ValueError(f"{other_path} and this run's {name!r} differ in parameters ({(unknown + lacking)[:3]}...): "
                         "not the same model")
    with torch.no_grad():
        for key, value in state.items():
            if not value.is_floating_point():
                continue
            if key in other and other[key].shape != value.shape:
                raise ValueError(f"{other_path}: {key} is {tuple(other[key].shape)}, this run's "
                                 f"{tuple(value.shape)}: not the same model")
            theirs = other[key].to(value.dtype) if key in other else torch.zeros_like(value)
            value.copy_(share * value + (1.0 - share) * theirs)


def _write_card(
    path: Path, card, training: dict[str, Any], trained_on: str, metrics: dict[str, Any], dtype: str,
    working_size: int | None, limitations: str | None = None,
) -> None:
    config = training["config"]
    lines = [
        f"# {card.name}",
        "",
        f"{card.method}.",
        "",
        f"- purpose: {card.purpose}",
        f"- paper: {card.paper}",
        f"- parameters: {card.params:,}; {card.gmacs} GMACs at 256x256, batch 1, both inputs",
        f"- weights: `{path.with_suffix('.safetensors').name}`, {dtype}",
        f"- trained on: {trained_on}",
        f"- training: {_stage(training['steps'], config)}",
        f"- loss weights: {_loss_weights(config)}",
    ]
    if config.get("generator_options"):
        lines.append(f"- generator options: {config['generator_options']}")
    if config.get("warp_reference"):
        lines.append("- references warped onto the source's face through FaceMesh landmarks, in training and at "
                     "inference (`makeup.models.reference_input`)")
    if config.get("teacher"):
        lines.append(f"- distilled from: `{config['teacher']}`; {_distillation_weights(config)}")
    if config.get("init_decomposition"):
        lines.append(f"- initialised by kernel decomposition of `{config['init_decomposition']}` "
                     "(`makeup.distill.decompose`)")
    for part, donor in (config.get("init_modules") or {}).items():
        frozen = " and frozen" if part in (config.get("frozen_modules") or []) else ""
        lines.append(f"- `{part}` taken from `{donor}`{frozen}")
    earlier = training.get("started_from")
    while earlier:  # the stages before this run, latest first
        distilled = (f"; distilled from `{earlier['config']['teacher']}`, "
                     f"{_distillation_weights(earlier['config'])}" if earlier["config"].get("teacher") else "")
        lines.append(f"- started from: `{earlier['checkpoint']}`, {_stage(earlier['step'], earlier['config'])}; "
                     f"loss weights {_loss_weights(earlier['config'])}{distilled}")
        earlier = earlier.get("started_from")
    averaged = training.get("averaged_with")
    if averaged:
        lines.append(f"- averaged: {averaged['share_of_this_run']} of this run's weights, the rest of "
                     f"`{averaged['file']}`'s (a weight soup)")
    if training.get("inference", {}).get("example_lips"):
        lines.append("- lips: the example-based transfer's, laid over the output on the source's lips "
                     "(`makeup.classical.example_lips`); it needs both faces' FaceMesh landmarks")
    if working_size:
        lines.append(f"- runs at {working_size} px: larger crops are shrunk to that size and the model's change is "
                     "upsampled back onto them")
    if limitations:
        lines += ["", "## Known limitations", "", limitations]
    if metrics:
        lines += ["", "## Metrics", "", "```json", json.dumps(metrics, indent=2), "```"]
    lines += ["", "The full training config is in the safetensors metadata (`training`).", ""]
    path.write_text("\n".join(lines))


def _stage(steps: int, config: dict[str, Any]) -> str:
    """One training stage in a line: its length, batch, size, optimiser and mix of looks."""
    return (f"{steps} steps of batch {config.get('batch_size')} at {config.get('image_size')} px, "
            f"Adam {config.get('lr_generator')} (betas {config.get('beta1')}, {config.get('beta2')}), "
            f"synthetic share {config.get('synthetic_fraction')}, "
            f"synthetic looks {config.get('synthetic_look_weights') or 'in the usual mix'}")


def _distillation_weights(config: dict[str, Any]) -> str:
    terms = (("output", "distill_output_weight"), ("feature", "distill_feature_weight"),
             ("semantic relation", "distill_relation_weight"), ("collaborative", "distill_collaborative_weight"))
    return ", ".join(f"{label} {config.get(key, 0.0)}" for label, key in terms)


def _extra_on_lips(config: dict[str, Any], key: str) -> str:
    extra = config.get(key, 0.0)
    return f" (+{extra} on the lips)" if extra else ""


def _loss_weights(config: dict[str, Any]) -> str:
    return (f"adversarial {config.get('adversarial_weight')}, cycle {config.get('cycle_weight')}, "
            f"identity {config.get('identity_weight')}, perceptual {config.get('perceptual_weight')} "
            f"({config.get('perceptual_backbone')}), paired {config.get('paired_distance', 'l1')} "
            f"{config.get('paired_weight')} (+{config.get('paired_region_weight', 0.0)} on lips and eye shadow, "
            f"+{config.get('paired_outside_weight', 0.0)} outside the makeup)"
            f"{_extra_on_lips(config, 'paired_lips_weight')}, "
            f"pseudo target {config.get('pseudo_target_distance', 'l2')} {config.get('pseudo_target_weight', 0.0)}"
            f"{_extra_on_lips(config, 'pseudo_target_lips_weight')}, "
            f"histogram per region {config.get('histogram_weights')}"
            f"{' (gated by how made up the reference looks)' if config.get('histogram_gate') else ''}")
