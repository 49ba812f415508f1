"""Run models over held-out synthetic triplets and real unpaired pairs, and measure them.

Every evaluation has three reference rows: `identity` (the output is the source: what doing nothing scores),
`classical` (per-region colour transfer without a network) and `example` (the example-based transfer through a
dense mesh warp, which is also the pseudo ground truth of real training pairs): what every network has to beat.
Networks load their trained weights through `makeup.weights`; a network without trained weights is still run
(with random weights) and marked untrained, so a table can never pass random weights off as a model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from makeup.classical.example import ExampleBasedTransfer, reference_makeup
from makeup.classical.example_lips import paints_lips_by_example
from makeup.data.cache import FaceCache
from makeup.data.triplets import BARE_KINDS, MAKEUP_KINDS, FaceSource, make_triplets, render_triplet, split_indices
from makeup.evaluate import metrics
from makeup.models.reference_input import warps_reference
from makeup.models.tensors import image_to_tensor, tensor_to_image
from makeup.regions import HISTOGRAM_REGIONS

IDENTITY = "identity"
CLASSICAL = "classical"
EXAMPLE = "example"
REFERENCE_ROWS = (IDENTITY, CLASSICAL, EXAMPLE)
UNTRAINED = "UNTRAINED (random init)"


class EvaluationError(ValueError):
    """An evaluation cannot run: a model that is not a generator, or no held-out data to evaluate on."""


@dataclass
class EvalPair:
    """One source/reference pair of aligned crops with their region masks; `target` is the ground truth if known."""

    source: np.ndarray
    reference: np.ndarray
    source_masks: dict[str, np.ndarray]
    reference_masks: dict[str, np.ndarray]
    target: np.ndarray | None = None
    name: str = ""
    source_landmarks: np.ndarray | None = None  # (478, 2) FaceMesh points in crop pixels, when the cache has them
    reference_landmarks: np.ndarray | None = None
    _share: tuple | None = field(default=None, repr=False, compare=False)  # `pair_share`, once computed


@dataclass
class EvalModel:
    """A model as the evaluation runs it: a row label, what it is, its weights status and the module."""

    label: str
    kind: str  # "identity", "classical" or "generator"
    weights: str
    module: nn.Module | None = None
    trained: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    # lay the example lips over the output where the weights ask for them (`makeup.classical.example_lips`);
    # False measures the network's own share
    example_lips: bool = True

    @property
    def paints_lips(self) -> bool:
        return self.kind == "generator" and self.example_lips and paints_lips_by_example(self.module)

    def transfer(
        self, sources: torch.Tensor, references: torch.Tensor, source_masks: torch.Tensor, reference_masks: torch.Tensor
    ) -> torch.Tensor:
        """The sources wearing the references' makeup (Nx3xHxW in [-1, 1])."""
        if self.kind == IDENTITY:
            return sources
        if self.kind == CLASSICAL:
            return self.module(sources, references, source_masks, reference_masks)[0]
        return self.module(sources, references)[0]


def _generator_row(label: str, module: nn.Module, weights: str, trained: bool, info: dict[str, Any]) -> EvalModel:
    return EvalModel(label=label, kind="generator", weights=weights, module=module, trained=trained, info=info)


def load_eval_models(
    names: list[str], device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
    network_alone: bool = False,
) -> list[EvalModel]:
    """The reference rows (identity, classical, example), then each of `names`: a registered model or a path to a
    weights file. network_alone: a second row for each model whose weights lay the example lips over its output,
    labelled "NAME (network)", without them.

    A registered name loads its trained weights from `weights_dir` (default `weights/`); one without trained
    weights gets random ones and is marked untrained. A `.safetensors` path (e.g. a freshly exported
    checkpoint) is built from the architecture its metadata names.
    """
    from makeup.models import get_card
    from makeup.weights import UntrainedModelWarning, load_model, load_weights_file

    rows = [
        EvalModel(IDENTITY, IDENTITY, "none (output = source)"),
        EvalModel(CLASSICAL, CLASSICAL, "none (no learning)", module=load_model(CLASSICAL, device=device)),
        EvalModel(EXAMPLE, CLASSICAL, "none (no learning)", module=load_model(EXAMPLE, device=device)),
    ]
    for name in names:
        if name in REFERENCE_ROWS:
            continue
        path = Path(name)
        if path.suffix == ".safetensors":
            module = load_weights_file(path, device=device)
            info = {"architecture": module.model_name, "file": str(path), **_training_seed(module)}
            rows.append(_generator_row(path.stem, module, path.name, True, info))
            continue
        card = get_card(name)
        if card.kind != "generator":
            raise EvaluationError(f"{name!r} is a {card.kind}, not a generator: only generators transfer makeup")
        with warnings.catch_warnings():
            # The untrained status is shown in the table itself, louder than a warning.
            warnings.simplefilter("ignore", UntrainedModelWarning)
            module = load_model(name, device=device, weights_dir=weights_dir, allow_random=True)
        trained = bool(getattr(module, "has_trained_weights", False))
        weights = card.weights_file if trained else UNTRAINED
        rows.append(_generator_row(name, module, weights, trained, {"architecture": name, **_training_seed(module)}))
    if network_alone:
        rows += [replace(row, label=f"{row.label} (network)", example_lips=False) for row in list(rows)
                 if row.paints_lips]
    return rows


def _training_seed(module: nn.Module) -> dict[str, int]:
    """The seed a trained model's data split was drawn with, when its weights file records it."""
    seed = (getattr(module, "training_summary", None) or {}).get("config", {}).get("seed")
    return {"training_seed": int(seed)} if seed is not None else {}


def _mask_stack(masks: list[dict[str, np.ndarray]], device: torch.device | str) -> torch.Tensor:
    stacked = np.stack([np.stack([m[name] for name in HISTOGRAM_REGIONS]) for m in masks])
    return torch.from_numpy(stacked).float().to(device)


@torch.inference_mode()
def run_model(
    model: EvalModel, pairs: list[EvalPair], device: torch.device | str = "cpu", batch_size: int = 8
) -> list[np.ndarray]:
    """The model's output for every pair, as HxWx3 uint8 crops."""
    if isinstance(model.module, ExampleBasedTransfer):
        # per pair, with every region mask of the cache: pairs whose faces have no landmarks still work
        return [model.module.transfer_pair(p.source, p.reference, p.source_masks, p.reference_masks,
                                           p.source_landmarks, p.reference_landmarks) for p in pairs]
    warps = model.kind == "generator" and warps_reference(model.module)
    outputs: list[np.ndarray] = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        sources = image_to_tensor(np.stack([p.source for p in batch]), device)
        references = image_to_tensor(np.stack([pair_share(p)[0] if warps else p.reference for p in batch]), device)
        transferred = model.transfer(
            sources,
            references,
            _mask_stack([p.source_masks for p in batch], device),
            _mask_stack([p.reference_masks for p in batch], device),
        )
        images = tensor_to_image(transferred)
        images = list(images) if images.ndim == 4 else [images]
        if model.paints_lips:
            images = [_with_lips(image, pair_share(p)[1]) for image, p in zip(images, batch)]
        outputs.extend(images)
    return outputs


def pair_share(pair: EvalPair) -> tuple[np.ndarray, Any]:
    """(the reference warped onto the source, the example lips layer or None) of one pair: the transfer's pair
    stage (`makeup.transfer.pair.face_share`), computed once and shared by every model evaluated on the pair."""
    if pair._share is None:
        from makeup.transfer.pair import face_share, reference_lips_part

        pair._share = face_share(pair.source, pair.source_landmarks, pair.source_masks, pair.reference,
                                 pair.reference_landmarks, reference_lips_part(pair.reference, pair.reference_masks),
                                 warp=True)
    return pair._share


def _with_lips(image: np.ndarray, layer) -> np.ndarray:
    return image if layer is None else layer.over(image)


def _union(masks: dict[str, np.ndarray], *names: str) -> np.ndarray:
    return np.maximum.reduce([masks[name] for name in names])


def triplet_metrics(output: np.ndarray, pair: EvalPair) -> dict[str, float]:
    """Quality against the ground truth of a synthetic triplet (`pair.target`).

    `psnr_unchanged` covers the pixels the makeup left exactly as they were (target == source): whatever a model
    does there is damage.
    """
    if pair.target is None:
        raise ValueError(f"pair {pair.name!r} has no ground truth: triplet metrics need a synthetic triplet")
    masks, target = pair.source_masks, pair.target
    unchanged = np.all(target == pair.source, axis=-1).astype(np.float32)
    return {
        "psnr": metrics.psnr(output, target),
        "psnr_face": metrics.psnr(output, target, masks["face"]),
        "ssim": metrics.ssim(output, target),
        "ssim_face": metrics.ssim(output, target, masks["face"]),
        "de_lips": metrics.region_ciede2000(output, target, masks["lips"]),
        "de_eyeshadow": metrics.region_ciede2000(output, target, _union(masks, "eyeshadow_left", "eyeshadow_right")),
        "de_cheeks": metrics.region_ciede2000(output, target, _union(masks, "cheek_left", "cheek_right")),
        "psnr_unchanged": metrics.psnr(output, target, unchanged),
    }


def _grey(image: np.ndarray) -> np.ndarray:
    luminance = np.asarray(image, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.repeat(luminance[..., None], 3, axis=-1)


def real_pair_metrics(output: np.ndarray, pair: EvalPair) -> dict[str, float]:
    """Makeup carried over (region colour distributions vs the reference) and what was kept (vs the source).

    `gap_*` reads at a glance: the output's colour distance to the reference divided by the untouched source's
    (1: nothing moved, 0: the region's colours match the reference's; above 1: moved away from it).
    """
    source_masks, reference_masks = pair.source_masks, pair.reference_masks

    def distance(image: np.ndarray, *regions: str) -> float:
        return metrics.region_histogram_distance(
            image, _union(source_masks, *regions), pair.reference, _union(reference_masks, *regions)
        )

    regions = {"lips": ("lips",), "eyeshadow": ("eyeshadow_left", "eyeshadow_right"), "skin": ("skin",)}
    emd = {name: distance(output, *parts) for name, parts in regions.items()}
    untouched = {name: distance(pair.source, *parts) for name, parts in regions.items()}
    gap = {name: emd[name] / untouched[name] if untouched[name] > 0 else float("nan") for name in regions}
    return {
        "emd_lips": emd["lips"],
        "emd_eyeshadow": emd["eyeshadow"],
        "emd_skin": emd["skin"],
        "gap_lips": gap["lips"],
        "gap_eyeshadow": gap["eyeshadow"],
        "gap_skin": gap["skin"],
        "psnr_background": metrics.psnr(output, pair.source, 1.0 - source_masks["face"]),
        "ssim_face_structure": metrics.ssim(_grey(output), _grey(pair.source), source_masks["face"]),
    }


def _average(per_pair: list[dict[str, float]]) -> dict[str, float]:
    keys = per_pair[0].keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a region absent from every face averages to NaN
        return {key: float(np.nanmean([values[key] for values in per_pair])) for key in keys}


# A reference counts as wearing makeup in a region from this `reference_makeup` figure (0 bare, 1 made up).
MADE_UP_FROM = 0.5


def reference_groups(pairs: list[EvalPair]) -> dict[str, list[int]]:
    """The real pairs (their indices) by how made up the reference looks, lips and lids apart: `lips_made_up`,
    `lips_bare`, `lids_made_up`, `lids_bare` (`makeup.classical.example.reference_makeup`, from `MADE_UP_FROM`).

    A reference with bare lips asks for nothing on the lips, yet a method that copies its natural lip colour
    scores a low EMD there; the groups keep that apart from carrying lipstick."""
    groups: dict[str, list[int]] = {"lips_made_up": [], "lips_bare": [], "lids_made_up": [], "lids_bare": []}
    for index, pair in enumerate(pairs):
        lips, _, lids, _ = reference_makeup(pair.reference, pair.reference_masks)
        groups["lips_made_up" if lips >= MADE_UP_FROM else "lips_bare"].append(index)
        groups["lids_made_up" if lids >= MADE_UP_FROM else "lids_bare"].append(index)
    return groups


# by_reference figure: (the per-pair metric it averages, the reference group it averages over)
GROUPED_EMD = {
    "emd_lips_made_up": ("emd_lips", "lips_made_up"),
    "emd_lips_bare": ("emd_lips", "lips_bare"),
    "emd_eyeshadow_made_up": ("emd_eyeshadow", "lids_made_up"),
    "emd_eyeshadow_bare": ("emd_eyeshadow", "lids_bare"),
}


def _grouped_emd(per_pair: list[dict[str, float]], groups: dict[str, list[int]]) -> dict[str, float | None]:
    """Each `GROUPED_EMD` figure: its metric's mean over its group's pairs (None for an empty group)."""
    grouped: dict[str, float | None] = {}
    for name, (metric, group) in GROUPED_EMD.items():
        values = [per_pair[i][metric] for i in groups[group]]
        grouped[name] = float(np.nanmean(values)) if values else None
    return grouped


def evaluate_models(
    models: list[EvalModel],
    triplets: list[EvalPair],
    real_pairs: list[EvalPair],
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    sheet_rows: int = 6,
) -> tuple[dict[str, Any], dict[str, list[tuple[str, list[np.ndarray]]]]]:
    """Measure every model on both sets. Returns (result, contact-sheet columns per set).

    The result holds, per set, the number of pairs, their names and one row per model (`model`, `weights`,
    `trained`, `kind`, mean `metrics` and the `per_pair` metrics in the order of the names). The real set adds the
    size of each `reference_groups` group and, per row, its EMD over each group (`by_reference`). The sheet
    columns are the inputs, the ground truth where there is one and each model's output, for the first
    `sheet_rows` pairs.
    """
    result: dict[str, Any] = {}
    sheets: dict[str, list[tuple[str, list[np.ndarray]]]] = {}
    groups = reference_groups(real_pairs)
    for key, pairs, measure in (("synthetic", triplets, triplet_metrics), ("real", real_pairs, real_pair_metrics)):
        rows = []
        shown = pairs[:sheet_rows]
        columns = [("source", [p.source for p in shown]), ("reference", [p.reference for p in shown])]
        if shown and shown[0].target is not None:
            columns.append(("ground truth", [p.target for p in shown]))
        for model in models:
            if not pairs:
                break
            outputs = run_model(model, pairs, device, batch_size)
            per_pair = [measure(output, pair) for output, pair in zip(outputs, pairs)]
            row = {
                "model": model.label,
                "kind": model.kind,
                "weights": model.weights,
                "trained": model.trained,
                "metrics": _average(per_pair),
                "per_pair": per_pair,
            }
            if key == "real":
                row["by_reference"] = _grouped_emd(per_pair, groups)
            rows.append(row)
            columns.append((model.label, outputs[: len(shown)]))
        result[key] = {"count": len(pairs), "rows": rows, "pairs": [p.name for p in pairs]}
        if key == "real":
            result[key]["reference_groups"] = {name: len(indices) for name, indices in groups.items()}
        sheets[key] = columns if shown else []
    return result, sheets


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image)
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _resized_masks(masks: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    return {
        name: mask if mask.shape == (size, size) else cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
        for name, mask in masks.items()
    }


def _landmarks(faces: FaceSource, index: int, size: int) -> np.ndarray | None:
    """A face's FaceMesh landmarks scaled to crops of `size`, or None where the source of faces has none."""
    read = getattr(faces, "landmarks", None)
    points = read(index) if read else None
    return None if points is None else np.asarray(points, np.float32) * (size / faces.size)


def held_out_triplets(faces: FaceSource, count: int, size: int, split: str = "test", seed: int = 0) -> list[EvalPair]:
    """`count` synthetic triplets of `split` (identities and styles never used in training), rendered at the
    cache's resolution and then resized to `size`."""
    pairs = []
    for number, triplet in enumerate(make_triplets(faces, split, count, seed=seed)):
        images = render_triplet(faces, triplet)
        pairs.append(
            EvalPair(
                source=_resized(images["source"], size),
                reference=_resized(images["reference"], size),
                target=_resized(images["target"], size),
                source_masks=_resized_masks(images["source_masks"], size),
                reference_masks=_resized_masks(images["reference_masks"], size),
                name=f"{number}: {faces.records[triplet.source].id} <- {faces.records[triplet.reference].id} "
                f"({triplet.style_name})",
                source_landmarks=_landmarks(faces, triplet.source, size),
                reference_landmarks=_landmarks(faces, triplet.reference, size),
            )
        )
    return pairs


def real_pairs(faces: FaceSource, count: int, size: int, split: str = "test", seed: int = 0) -> list[EvalPair]:
    """Up to `count` unpaired pairs of `split`: a bare source and a real makeup reference, every source and
    reference used in turn (deterministic in `seed`). Empty when the split has no real makeup faces."""
    sources = split_indices(faces, split, seed, kinds=BARE_KINDS)
    references = split_indices(faces, split, seed, kinds=MAKEUP_KINDS)
    if not sources or not references:
        return []
    rng = np.random.default_rng([seed, 0xE7A1])
    sources = [sources[i] for i in rng.permutation(len(sources))]
    references = [references[i] for i in rng.permutation(len(references))]
    pairs = []
    for number in range(count):
        a, b = sources[number % len(sources)], references[number % len(references)]
        pairs.append(
            EvalPair(
                source=_resized(faces.image(a), size),
                reference=_resized(faces.image(b), size),
                source_masks=_resized_masks(faces.masks(a), size),
                reference_masks=_resized_masks(faces.masks(b), size),
                name=f"{number}: {faces.records[a].id} <- {faces.records[b].id}",
                source_landmarks=_landmarks(faces, a, size),
                reference_landmarks=_landmarks(faces, b, size),
            )
        )
    return pairs


def run_evaluation(
    cache: str | Path | FaceSource,
    model_names: list[str],
    out_dir: str | Path,
    *,
    size: int = 256,
    triplets: int = 48,
    real_pairs_count: int = 24,
    split: str = "test",
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    weights_dir: str | Path | None = None,
    sheet_rows: int = 6,
    command: str = "",
    network_alone: bool = False,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Evaluate the reference rows and `model_names` on a prepared cache and write the report to `out_dir`
    (network_alone: also each model whose weights add the example lips, without them).

    Returns (the result written to eval.json, the paths written).
    """
    from makeup.evaluate.report import write_report

    faces = FaceCache(cache) if isinstance(cache, (str, Path)) else cache
    models = load_eval_models(model_names, device=device, weights_dir=weights_dir, network_alone=network_alone)
    reasons = {}
    people = {faces.records[i].identity for i in split_indices(faces, split, seed, kinds=BARE_KINDS)}
    if len(people) >= 2:
        synthetic = held_out_triplets(faces, triplets, size, split, seed)
    else:
        synthetic = []
        reasons["synthetic"] = (
            f"the {split!r} split of this cache has bare faces of {len(people)} people; triplets need two"
        )
    real = real_pairs(faces, real_pairs_count, size, split, seed)
    if not real:
        reasons["real"] = f"the {split!r} split of this cache has no bare source or no real makeup reference"
    if not synthetic and not real:
        raise EvaluationError(
            f"nothing to evaluate in the {split!r} split of {getattr(faces, 'root', 'the faces')}: "
            f"{reasons['synthetic']}; {reasons['real']}. Prepare a cache from more faces (makeup prepare)"
        )
    result, sheets = evaluate_models(models, synthetic, real, device, batch_size, sheet_rows)
    for key, reason in reasons.items():
        result[key]["reason"] = reason
    # Splits are drawn per seed: evaluated with another seed, a model may have trained on the "held-out" faces.
    seed_warnings = [
        f"{m.label} was trained with seed {m.info['training_seed']}, this evaluation uses seed {seed}: its held-out "
        f"faces may have been training faces; evaluate with --seed {m.info['training_seed']}"
        for m in models
        if m.info.get("training_seed", seed) != seed
    ]
    result["settings"] = {
        "command": command,
        "warnings": seed_warnings,
        "data": f"{getattr(faces, 'root', 'faces')} ({len(faces)} faces, split {split!r}, seed {seed})",
        "size": size,
        "split": split,
        "seed": seed,
        "device": str(device),
        "models": [{"model": m.label, "kind": m.kind, "weights": m.weights, "trained": m.trained, **m.info}
                   for m in models],
    }
    return result, write_report(result, sheets, out_dir)
