"""Distributed data-parallel helpers: process-group setup from torchrun's environment, a resumable sampler."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank among `world_size` processes and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, draws samples and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str) -> torch.device:
    """`auto` means CUDA when available, else CPU."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def setup_distributed(device_preference: str = "auto") -> DistributedContext:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK); a single process otherwise.

    NCCL on GPUs, gloo on CPU. Each process uses the GPU of its local rank.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank if device.index is None else device.index)
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_across_ranks(values: dict[str, float], context: DistributedContext) -> dict[str, float]:
    """Average logged numbers over all ranks (each rank saw different samples)."""
    if not context.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[key] for key in keys], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return dict(zip(keys, (tensor / context.world_size).tolist()))


def barrier(context: DistributedContext) -> None:
    if context.distributed:
        dist.barrier()


class ResumableDistributedSampler(DistributedSampler):
    """torch's DistributedSampler (a seeded shuffle per epoch, one shard per rank) run as one endless stream.

    Iterating yields `(epoch, index)` keys, epoch after epoch from `set_epoch`'s, each epoch cut to whole batches
    of `batch_size` so batches never straddle two epochs. One iterator covers the whole run, so a DataLoader
    starts its worker processes once, and the epoch travels with every index to the workers' dataset copies.
    After a resume, `skip` drops the samples of the first epoch this rank already used, so the run sees the
    same sequence it would have seen without the interruption.
    """

    def __init__(self, dataset: Dataset, rank: int, world_size: int, seed: int, batch_size: int = 1) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.batches_per_epoch = self.num_samples // batch_size
        self._per_epoch = self.batches_per_epoch * batch_size
        self._skip = 0

    def skip(self, count: int) -> None:
        """Leave out the first `count` indices of the first epoch iterated."""
        self._skip = count

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self._per_epoch == 0:
            raise ValueError(f"{self.num_samples} samples per process make no whole batch")
        epoch, skip = self.epoch, self._skip
        self._skip = 0
        while True:
            self.set_epoch(epoch)  # the parent's shuffle reads self.epoch
            for index in list(super().__iter__())[skip : self._per_epoch]:
                yield epoch, index
            epoch, skip = epoch + 1, 0

    def __len__(self) -> int:
        """Samples per epoch on this rank (the stream itself never ends)."""
        return self._per_epoch
