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
    """torch's DistributedSampler (a seeded shuffle per epoch, one shard per rank) that can start mid-epoch.

    After a resume, `skip` drops the samples of the current epoch this rank already used, so the run sees the
    same sequence it would have seen without the interruption.
    """

    def __init__(self, dataset: Dataset, rank: int, world_size: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self._skip = 0

    def skip(self, count: int) -> None:
        """Leave out the first `count` indices of the next epoch iterated."""
        self._skip = count

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self._skip :]
        self._skip = 0
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples - self._skip
