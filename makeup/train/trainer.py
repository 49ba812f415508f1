"""Train a makeup-transfer generator GAN-style: read this file top to bottom to see one whole run.

    from makeup.train import TrainConfig, train
    train(TrainConfig(cache="cache", out_dir="runs/teacher", image_size=128))

One generator G (any registered generator), two PatchGAN discriminators: `disc_makeup` tells real makeup faces
from G's transferred outputs, `disc_plain` tells faces without makeup from G's demakeup outputs. Each step trains
G on a weighted sum of loss terms (`makeup.losses.terms`; callers may add their own), then both discriminators
on LSGAN losses. Batches mix synthetic triplets (with ground truth) and real unpaired pairs; see `makeup.data`.
Runs on one CPU, one GPU or many processes under torchrun (DDP), and resumes exactly from its checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from makeup.losses import (
    AdversarialTerm,
    ContentTerm,
    CycleTerm,
    GeneratorStep,
    HistogramTerm,
    IdentityTerm,
    LossTerm,
    PairedTerm,
    PairedPerceptualTerm,
    PerceptualLoss,
    PreservationTerm,
    create_backbone,
    lsgan_discriminator_loss,
)
from makeup.distill.build import build_distill_terms
from makeup.losses.terms import CYCLE, IDENTITY
from makeup.models import create_model
from makeup.train import checkpoint
from makeup.train.config import CONFIG_FILE, TrainConfig
from makeup.train.distributed import (
    DistributedContext,
    ResumableDistributedSampler,
    barrier,
    mean_across_ranks,
    setup_distributed,
    teardown_distributed,
)
from makeup.train.log import LOG_FILE, JsonlLog, sample_grid, save_image, truncate_log_after
from makeup.train.submodules import borrow_submodules, freeze_submodules

DISCRIMINATORS = ("disc_makeup", "disc_plain")
BATCH_TENSORS = ("source", "reference", "target", "has_target", "source_masks", "reference_masks")
OPTIONAL_BATCH_TENSORS = ("reference_makeup",)  # batched where every sample has it (the cache's datasets)
WORKER_TIMEOUT_S = 300  # far above one batch's loading time, even at 512 px on a busy machine


@dataclass
class TrainRun:
    """What a finished (or stopped) call of `train` leaves: its folder, the step reached and the models."""

    run_dir: Path
    step: int
    generator: nn.Module
    discriminators: dict[str, nn.Module]


class GeneratorWithFeatures(nn.Module):
    """Runs encode then decode in one forward, so DDP sees every generator call and the terms get the features."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: torch.Tensor, reference: torch.Tensor):
        features = self.generator.encode(source, reference)
        transferred, demakeup = self.generator.decode(features)
        return features, transferred, demakeup


# ---- building blocks ---------------------------------------------------------------------------------------------


def build_loss_terms(config: TrainConfig, device: torch.device) -> list[LossTerm]:
    """BeautyGAN's objective plus the paired terms (synthetic triplets' ground truth, real pairs' pseudo targets)
    and the preservation term for real pairs; zero-weight terms are left out."""
    perceptual = None
    if config.perceptual_backbone != "none" and (config.perceptual_weight or config.paired_perceptual_weight):
        backbone = create_backbone(config.perceptual_backbone, config.perceptual_weights_path)
        perceptual = PerceptualLoss(backbone).to(device)
    terms: list[LossTerm] = [
        AdversarialTerm(config.adversarial_weight),
        CycleTerm(config.cycle_weight),
        IdentityTerm(config.identity_weight),
        PairedTerm(config.paired_weight, config.paired_region_weight, config.paired_distance,
                   config.paired_outside_weight, lips_weight=config.paired_lips_weight),
        PairedTerm(config.pseudo_target_weight, config.paired_region_weight, config.pseudo_target_distance,
                   config.paired_outside_weight, samples="real", lips_weight=config.pseudo_target_lips_weight),
        PreservationTerm(config.preservation_weight),
        HistogramTerm(1.0, config.histogram_weights, on_synthetic=config.histogram_on_synthetic,
                      gated=config.histogram_gate),
    ]
    if perceptual is not None:
        terms += [
            ContentTerm(config.perceptual_weight, perceptual),
            PairedPerceptualTerm(config.paired_perceptual_weight, perceptual),
        ]
    if not any(config.histogram_weights):
        terms = [term for term in terms if not isinstance(term, HistogramTerm)]
    return [term for term in terms if term.weight]


def build_dataset(config: TrainConfig) -> Dataset:
    """Synthetic triplets mixed with real unpaired pairs from the prepared cache's training split."""
    from makeup.data import FaceCache
    from makeup.data.augment import FaceAugment
    from makeup.data.datasets import training_pairs

    return training_pairs(
        FaceCache(config.cache),
        split="train",
        seed=config.seed,
        real_fraction=1.0 - config.synthetic_fraction,
        length=config.samples_per_epoch,
        augment=None if config.augment else FaceAugment.none(),
        look_weights=config.synthetic_look_weights,
        pseudo_targets=config.pseudo_target_weight > 0,
        lip_recolour=config.real_lip_recolour,
        makeup_transplant=config.real_makeup_transplant,
        warp_reference=config.warp_reference,
    )


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the tensors of a list of sample dicts; keep `kind` as a list of strings."""
    batch: dict[str, Any] = {"kind": [sample["kind"] for sample in samples]}
    optional = [key for key in OPTIONAL_BATCH_TENSORS if all(key in sample for sample in samples)]
    for key in (*BATCH_TENSORS, *optional):
        batch[key] = torch.stack([torch.as_tensor(sample[key]) for sample in samples])
    return batch


class DataLoadingStalled(RuntimeError):
    """The data-loading workers sent no batch within `WORKER_TIMEOUT_S`."""


class IgnoreEpoch(Dataset):
    """Lets a dataset indexed by int alone take the sampler's `(epoch, index)` keys: the same items every epoch."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        return self.dataset[key[1]]


def endless_batches(dataset: Dataset, sampler: ResumableDistributedSampler, config: TrainConfig,
                    pin_memory: bool) -> Iterator[dict]:
    """Batches across epochs from one loader iterator, so worker processes start once per run, never per epoch.

    Each epoch reshuffles with the sampler's seed and the epoch number; the epoch reaches the workers in every
    `(epoch, index)` key, so items are drawn per (seed, epoch, index) whichever worker draws them. The loader's
    own generator seeds the workers, so the global RNG is left alone and a resumed run goes on exactly.
    """
    from makeup.data import worker_init

    if not getattr(dataset, "epoch_keys", False):
        dataset = IgnoreEpoch(dataset)
    workers = config.num_workers
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        drop_last=True,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        # Spawned, not forked: a worker forked after the parent has used OpenCV's thread pool (any cv2 call on a
        # large image, in this process or in whatever imported us) deadlocks at its first cv2 call.
        multiprocessing_context="spawn" if workers > 0 else None,
        generator=torch.Generator().manual_seed(run_seed(config)),
        worker_init_fn=worker_init if workers > 0 else None,
        timeout=float(WORKER_TIMEOUT_S) if workers > 0 else 0.0,  # a stuck worker fails the run, never hangs it
    )
    try:
        yield from loader
    except RuntimeError as error:
        if "timed out" not in str(error):
            raise
        raise DataLoadingStalled(
            f"no batch came from the {workers} data-loading workers in {WORKER_TIMEOUT_S} s, so a worker is stuck "
            f"(or the machine is badly overloaded); rerun with --set num_workers=0 to see the failing item in the "
            f"training process, or resume from the latest checkpoint with --resume"
        ) from error


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool, size: int) -> dict[str, Any]:
    """Move a batch to the device, resized to `size` when the cache holds another crop size."""
    moved = {"kind": batch["kind"]}
    moved.update({key: batch[key].to(device) for key in OPTIONAL_BATCH_TENSORS if key in batch})
    for key in BATCH_TENSORS:
        tensor = batch[key].to(device, non_blocking=True)
        if tensor.ndim == 4 and tensor.shape[-1] != size:
            if key.endswith("masks"):
                tensor = F.interpolate(tensor, size=(size, size), mode="nearest")
            else:
                tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        if channels_last and tensor.ndim == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        moved[key] = tensor
    return moved


def run_seed(config: TrainConfig) -> int:
    """The seed of the initial weights and the sample order: `init_seed`, or `seed` when it is -1."""
    return config.seed if config.init_seed < 0 else config.init_seed


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Up linearly over `warmup_steps`, 1 until `decay_start`, then linearly down to 0 at `steps` (BeautyGAN's
    schedule, plus the warm-up: Adam's first steps move every weight by the full learning rate, which throws a
    residual generator far from the identity it starts near)."""
    if step < config.warmup_steps:
        return (step + 1) / (config.warmup_steps + 1)
    if not config.decay_start or step < config.decay_start:
        return 1.0
    return max(0.0, 1.0 - (step - config.decay_start) / max(1, config.steps - config.decay_start))


def resolve_precision(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None: full fp32). `auto` is bf16 on CUDA and on CPUs with AMX tiles (bf16 matrix
    units), fp32 on other CPUs: on a 2-core Xeon with AVX512-BF16 but no AMX, bf16 autocast made student
    training 1.7x slower than fp32."""
    choice = config.precision
    if choice == "auto":
        choice = "bf16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_amx()) else "fp32"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[choice]


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tile units (Sapphire Rapids and later), where bf16 matmuls run in hardware."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, but the only probe torch offers
    return bool(probe and probe())


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


# ---- the run -----------------------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    extra_terms: Sequence[LossTerm] = (),
    resume: bool = False,
    init_from: str | Path | None = None,
    stop_after: int | None = None,
    dataset: Dataset | None = None,
) -> TrainRun:
    """Train until `config.steps` (or `config.max_minutes`, or `stop_after` steps in this call).

    `resume=True` continues from the run folder's latest checkpoint (exactly: weights, optimisers, RNG states,
    position in the data); `init_from` starts a new run from a checkpoint's weights. `extra_terms` are added to
    the generator objective. `dataset` replaces the hybrid dataset over `config.cache` (any dataset of sample
    dicts in the batch format of docs/architecture.md, indexed by int; one whose class says `epoch_keys = True` gets
    `(epoch, index)` keys instead, so it can draw new items each epoch, as `makeup.data.training_pairs` does).
    """
    context = setup_distributed(config.device)
    try:
        return _train(config, context, list(extra_terms), resume, init_from, stop_after, dataset)
    finally:
        teardown_distributed()


def _average_gradients(parameters: list[nn.Parameter], context: DistributedContext) -> None:
    if context.world_size > 1:
        for parameter in parameters:
            if parameter.grad is not None:
                torch.distributed.all_reduce(parameter.grad)
                parameter.grad /= context.world_size


def _train(
    config: TrainConfig,
    context: DistributedContext,
    extra_terms: list[LossTerm],
    resume: bool,
    init_from: str | Path | None,
    stop_after: int | None,
    dataset: Dataset | None,
) -> TrainRun:
    device = context.device
    run_dir = Path(config.out_dir)
    started = time.monotonic()
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not config.deterministic
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast_dtype = resolve_precision(config, device)
    channels_last = config.channels_last == "on" or (config.channels_last == "auto" and device.type == "cuda")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    # Models: the same seed on every rank gives identical initial weights (DDP also broadcasts rank 0's).
    torch.manual_seed(run_seed(config))
    generator = create_model(config.generator, **config.generator_options)
    borrow_submodules(generator, config.init_modules)
    freeze_submodules(generator, config.frozen_modules)
    discriminators = {
        role: create_model(config.discriminator, **config.discriminator_options) for role in DISCRIMINATORS
    }
    models = {"generator": generator, **discriminators}
    for model in models.values():
        model.to(device, memory_format=memory_format).train()

    data_terms = build_loss_terms(config, device)
    terms = data_terms + build_distill_terms(config, generator, device, data_terms) + extra_terms
    for term in terms:
        term.to(device)
    passes = frozenset().union(*(term.needs for term in terms))
    train_discriminators = any(isinstance(term, AdversarialTerm) for term in terms)
    # terms with parameters (distillation adapters) train with the generator and are checkpointed with it
    term_modules = nn.ModuleDict({term.name: term for term in terms
                                  if any(parameter.requires_grad for parameter in term.parameters())})
    term_parameters = [parameter for parameter in term_modules.parameters() if parameter.requires_grad]
    if term_parameters:
        models["terms"] = term_modules

    trainable = [parameter for parameter in generator.parameters() if parameter.requires_grad]
    optimizer_g = torch.optim.Adam([*trainable, *term_parameters], lr=config.lr_generator,
                                   betas=(config.beta1, config.beta2))
    optimizer_d = torch.optim.Adam(
        [p for role in DISCRIMINATORS for p in discriminators[role].parameters()],
        lr=config.lr_discriminator,
        betas=(config.beta1, config.beta2),
    )
    optimizers = {"generator": optimizer_g, "discriminators": optimizer_d}
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)

    # Where to start: a resumable checkpoint of this run, another run's weights, or step 0.
    step = 0
    saved = checkpoint.find_checkpoint(run_dir) if resume else None
    if resume and context.is_main:
        print(f"resuming from {saved}" if saved else f"no checkpoint in {run_dir}: starting from step 0")
    if saved is not None:
        checkpoint.load_models(saved, models)
        resumed = checkpoint.load_training_state(saved)
        for role, optimizer in optimizers.items():
            optimizer.load_state_dict(resumed.optimizers[role])
        if resumed.scaler:
            scaler.load_state_dict(resumed.scaler)
        step = resumed.step
    started_from = None
    if saved is None and init_from and str(init_from).endswith(".safetensors"):
        started_from = Path(init_from)  # shipped weights: the generator starts from them, the discriminators afresh
        checkpoint.load_generator_weights(started_from, generator)
    elif saved is None and init_from:
        started_from = checkpoint.find_checkpoint(init_from)
        if started_from is None:
            raise checkpoint.CheckpointError(f"no checkpoint found at {init_from}")
        checkpoint.load_models(started_from, models)

    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / CONFIG_FILE)
        truncate_log_after(run_dir / LOG_FILE, step)
        if started_from is not None:
            checkpoint.record_start(run_dir, started_from)
        elif saved is None:
            (run_dir / checkpoint.STARTED_FROM_FILE).unlink(missing_ok=True)  # a fresh run in a reused folder
    log = JsonlLog(run_dir / LOG_FILE) if context.is_main else None

    # Data: each rank reads its shard of a seeded shuffle; a resumed run skips what it already used.
    dataset = dataset if dataset is not None else build_dataset(config)
    sampler = ResumableDistributedSampler(dataset, context.rank, context.world_size, run_seed(config),
                                          config.batch_size)
    per_epoch = sampler.batches_per_epoch
    if per_epoch == 0:
        raise ValueError(
            f"the dataset has {len(dataset)} samples, fewer than one batch of {config.batch_size} per process "
            f"({context.world_size} processes): lower batch_size or prepare more faces"
        )
    sampler.set_epoch(step // per_epoch)
    sampler.skip((step % per_epoch) * config.batch_size)
    batches = endless_batches(dataset, sampler, config, pin_memory=device.type == "cuda")
    if saved is None and started_from is None and config.init_decomposition:
        _decompose_teacher(generator, config, dataset, device)

    # After restoring, the RNG state is the one saved with the checkpoint, so the run goes on exactly.
    if saved is not None:
        checkpoint.set_rng_states(resumed.rng)

    # DDP wraps the modules whose gradients must be averaged; the plain modules stay reachable for the G step.
    generator_step = _data_parallel(GeneratorWithFeatures(generator), context)
    discriminator_steps = {role: _data_parallel(discriminators[role], context) for role in DISCRIMINATORS}
    autocast = (lambda: torch.autocast(device.type, dtype=autocast_dtype)) if autocast_dtype else nullcontext

    progress = None
    if context.is_main and config.progress:
        from tqdm import tqdm

        progress = tqdm(total=config.steps, initial=step, desc="train", dynamic_ncols=True)

    steps_this_call = 0
    window_start, window_steps, window_sums = time.monotonic(), 0, {}
    while step < config.steps and (stop_after is None or steps_this_call < stop_after):
        batch = to_device(next(batches), device, channels_last, config.image_size)
        factor = learning_rate_factor(step, config)
        for optimizer, base in ((optimizer_g, config.lr_generator), (optimizer_d, config.lr_discriminator)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor

        # 1. Generator: its passes, then the weighted sum of every loss term.
        for module in discriminators.values():
            set_requires_grad(module, False)
        with autocast():
            features, transferred, demakeup = generator_step(batch["source"], batch["reference"])
            outputs = GeneratorStep(batch, transferred, demakeup, features, generator, discriminators)
            if CYCLE in passes:
                outputs.cycled = tuple(generator_step(demakeup, transferred)[1:])
            if IDENTITY in passes:
                outputs.identity_source = tuple(generator_step(batch["source"], batch["source"])[1:])
                outputs.identity_reference = tuple(generator_step(batch["reference"], batch["reference"])[1:])
            losses = {term.name: term(outputs) for term in terms}
            loss_g = sum(term.weight * losses[term.name] for term in terms)
        optimizer_g.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        _average_gradients(term_parameters, context)  # DDP averages only the generator's
        if config.grad_clip:
            scaler.unscale_(optimizer_g)
            nn.utils.clip_grad_norm_(generator.parameters(), config.grad_clip)
        scaler.step(optimizer_g)

        # 2. Discriminators: real faces vs the generator's (detached) outputs. Makeup realism is judged against
        # real makeup photos only, unless the data has none. Without an adversarial term they are left untrained.
        if train_discriminators:
            for module in discriminators.values():
                set_requires_grad(module, True)
            real_refs = outputs.is_real if config.synthetic_fraction < 1.0 else None
            with autocast():
                loss_d_makeup = lsgan_discriminator_loss(
                    discriminator_steps["disc_makeup"](batch["reference"]),
                    discriminator_steps["disc_makeup"](transferred.detach()),
                    real_weights=real_refs,
                )
                loss_d_plain = lsgan_discriminator_loss(
                    discriminator_steps["disc_plain"](batch["source"]),
                    discriminator_steps["disc_plain"](demakeup.detach()),
                )
                loss_d = loss_d_makeup + loss_d_plain
            optimizer_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            scaler.step(optimizer_d)
        scaler.update()

        step += 1
        steps_this_call += 1
        window_steps += 1
        # summed on the device and read once per log line, so logging does not stall the GPU every step
        losses["generator"] = loss_g
        if train_discriminators:
            losses.update({"disc_makeup": loss_d_makeup, "disc_plain": loss_d_plain})
        for name, value in losses.items():
            window_sums[name] = window_sums.get(name, 0.0) + value.detach().float()

        # 3. Logging (means since the last line), samples, checkpoints (rank 0 writes; every rank joins averages).
        if step % config.log_every == 0 or step == config.steps:
            values = {f"loss/{name}": float(total) / window_steps for name, total in window_sums.items()}
            values = mean_across_ranks(values, context)
            window_sums = {}
            elapsed = time.monotonic() - window_start
            steps_per_second = window_steps / elapsed if elapsed > 0 else math.nan
            window_start, window_steps = time.monotonic(), 0
            if log is not None:
                images_per_second = steps_per_second * config.batch_size * context.world_size
                log.write({"step": step, **values, "lr_factor": factor, "steps_per_s": round(steps_per_second, 4),
                           "images_per_s": round(images_per_second, 4)})
                if progress is not None:
                    shown = {"G": f"{values['loss/generator']:.3f}"}
                    if "loss/disc_makeup" in values:  # no discriminators without an adversarial term
                        shown["D"] = f"{values['loss/disc_makeup'] + values['loss/disc_plain']:.3f}"
                    progress.set_postfix(**shown, it_s=f"{steps_per_second:.2f}")
        if context.is_main and config.sample_every and (step % config.sample_every == 0 or step == 1):
            truth = batch["target"] if bool(batch["has_target"].any()) else None
            grid = sample_grid([batch["source"], batch["reference"], transferred, truth])
            save_image(run_dir / "samples" / f"step_{step:08d}.png", grid)
        if progress is not None:
            progress.update(1)

        out_of_time = bool(config.max_minutes) and (time.monotonic() - started) / 60.0 >= config.max_minutes
        stopping = _agree(
            out_of_time or step == config.steps or (stop_after is not None and steps_this_call >= stop_after), context
        )
        if config.checkpoint_every and (step % config.checkpoint_every == 0 or stopping):
            _save(run_dir, step, models, optimizers, scaler, config, context)
        if stopping:
            break

    if progress is not None:
        progress.close()
    if log is not None:
        log.close()
    return TrainRun(run_dir, step, generator, discriminators)


DECOMPOSITION_SAMPLES = 16  # calibration batch of `init_decomposition`: 16 x 32 x 32 positions per fit at 128 px


def _decompose_teacher(generator: nn.Module, config: TrainConfig, dataset: Dataset, device: torch.device) -> None:
    """Start `generator` from `config.init_decomposition`'s kernels, calibrated on the first samples of the data
    (the same on every rank, so the ranks agree)."""
    from makeup.distill.build import load_teacher
    from makeup.distill.decompose import decompose_into

    teacher = load_teacher(config.init_decomposition, device)
    samples = collate([dataset[index] for index in range(min(DECOMPOSITION_SAMPLES, len(dataset)))])
    batch = to_device(samples, device, channels_last=False, size=config.image_size)
    decompose_into(generator, teacher, batch["source"], batch["reference"])


def _data_parallel(module: nn.Module, context: DistributedContext) -> nn.Module:
    """The module under DDP when several processes train, else the module itself."""
    if not context.distributed:
        return module
    device = context.device
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def _agree(flag: bool, context: DistributedContext) -> bool:
    """True on every rank when rank 0 says so (wall-clock limits can differ by a step between ranks)."""
    if not context.distributed:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=context.device)
    torch.distributed.broadcast(tensor, src=0)
    return bool(tensor.item())


def _save(
    run_dir: Path, step: int, models, optimizers, scaler, config: TrainConfig, context: DistributedContext
) -> None:
    if context.is_main:
        checkpoint.save_checkpoint(
            run_dir, step, models, optimizers, scaler, config.to_dict(),
            max_shard_bytes=int(config.shard_megabytes * 2**20), keep=config.keep_checkpoints,
        )
    barrier(context)
