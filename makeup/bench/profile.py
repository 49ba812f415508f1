"""Measuring models: parameters, multiply-accumulates, latency and peak memory.

MACs come from `torch.utils.flop_counter.FlopCounterMode`, which counts convolutions (depthwise and transposed
included) and matrix products and reports FLOPs = 2 x MACs; normalisation, activations and additions are not
counted, as is usual for MAC figures in papers. Generator figures are always for batch 1 with both inputs.
"""

from __future__ import annotations

import ctypes
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared ones once; buffers such as spectral-norm vectors not included)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: Callable[..., object], *inputs: torch.Tensor) -> int:
    """FLOPs of one `model(*inputs)` call without gradients, as `FlopCounterMode` counts them."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    return int(counter.get_total_flops())


def count_macs(model: Callable[..., object], *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one `model(*inputs)` call: FLOPs / 2."""
    return count_flops(model, *inputs) // 2


# (top, bottom, left, right) as fractions of the side, in makeup.regions.HISTOGRAM_REGIONS order: a rough
# aligned-face layout, so region-based methods work on realistic pixel counts.
_EXAMPLE_REGION_BOXES = (
    (0.68, 0.78, 0.38, 0.62),  # lips
    (0.20, 0.90, 0.22, 0.78),  # skin
    (0.36, 0.44, 0.28, 0.44),  # eye shadow, left
    (0.36, 0.44, 0.56, 0.72),  # eye shadow, right
)


def example_region_masks(size: int = 256, batch: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
    """Nx4xSxS {0,1} masks laid out like an aligned face (lips, skin, eye shadow left and right)."""
    masks = torch.zeros(batch, len(_EXAMPLE_REGION_BOXES), size, size)
    for channel, (top, bottom, left, right) in enumerate(_EXAMPLE_REGION_BOXES):
        masks[:, channel, round(top * size):round(bottom * size), round(left * size):round(right * size)] = 1.0
    return masks.to(device)


def example_landmarks(size: int = 256, batch: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
    """Nx478x2 seeded random points inside the middle of the crop: stand-ins for FaceMesh landmarks, enough to
    time a landmark-based method (its regions are nonsense shapes of realistic size)."""
    generator = torch.Generator().manual_seed(1)
    points = 0.25 + 0.5 * torch.rand(478, 2, generator=generator)
    return (points * (size - 1)).expand(batch, -1, -1).to(device)


def example_inputs(kind: str, size: int = 256, batch: int = 1,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """Random inputs in [-1, 1] for a model of `kind`: (source, reference) for generators, one image for
    discriminators, and (source, reference, source_masks, reference_masks, source_landmarks,
    reference_landmarks) for classical methods."""
    generator = torch.Generator().manual_seed(0)

    def image() -> torch.Tensor:
        return (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(device)

    if kind == "discriminator":
        return (image(),)
    if kind == "classical":
        masks = example_region_masks(size, batch, device)
        landmarks = example_landmarks(size, batch, device)
        return image(), image(), masks, masks, landmarks, landmarks
    return image(), image()


@dataclass(frozen=True)
class Latency:
    """Wall-clock time of one call in milliseconds over `repeats` timed runs after `warmup` untimed ones."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    warmup: int
    threads: int
    device: str

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(model: Callable[..., object], inputs: Sequence[torch.Tensor], *, repeats: int = 10,
                    warmup: int = 3, threads: int | None = None) -> Latency:
    """Median wall-clock time of `model(*inputs)` under `torch.inference_mode`.

    `threads` fixes torch's intra-op CPU thread count for the measurement (restored afterwards); on a GPU the
    device is synchronised before reading the clock, so the time covers the kernels, not their launch.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device = inputs[0].device
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        times = []
        with torch.inference_mode():
            for step in range(warmup + repeats):
                _synchronize(device)
                start = time.perf_counter()
                model(*inputs)
                _synchronize(device)
                if step >= warmup:
                    times.append((time.perf_counter() - start) * 1000.0)
        return Latency(
            median_ms=statistics.median(times),
            min_ms=min(times),
            max_ms=max(times),
            repeats=repeats,
            warmup=warmup,
            threads=torch.get_num_threads(),
            device=str(device),
        )
    finally:
        torch.set_num_threads(previous_threads)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(field, ctypes.c_size_t) for field in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_in_use_function() -> Callable[[], int] | None:
    """Bytes the C heap has handed out (glibc `mallinfo2`: in-use arena bytes + mmapped blocks), or None."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2

    def heap_in_use() -> int:
        info = mallinfo2()
        return info.uordblks + info.hblkhd

    return heap_in_use


class _HeapPeakSampler(TorchDispatchMode):
    """Samples the heap in use after every aten op, keeping the largest value."""

    def __init__(self, heap_in_use: Callable[[], int]) -> None:
        super().__init__()
        self.heap_in_use = heap_in_use
        self.peak = heap_in_use()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 (torch's signature)
        result = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, self.heap_in_use())
        return result


def measure_peak_memory_mb(model: Callable[..., object], inputs: Sequence[torch.Tensor]) -> float | None:
    """Extra memory one `model(*inputs)` call under `torch.inference_mode` needs at its peak, in MiB.

    On a GPU: `torch.cuda.max_memory_allocated` during the call minus what was allocated before (tensors only,
    not the caching allocator's reserve). On CPU: the C heap in use (glibc `mallinfo2`), sampled after every
    aten op, at its largest minus before the call: live tensors between ops; scratch memory an op frees before
    it returns is not seen. None where glibc is not the allocator.
    """
    device = inputs[0].device
    with torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            model(*inputs)
            torch.cuda.synchronize(device)
            return (torch.cuda.max_memory_allocated(device) - before) / 2**20
        heap_in_use = _heap_in_use_function()
        if heap_in_use is None:
            return None
        before = heap_in_use()
        sampler = _HeapPeakSampler(heap_in_use)
        with sampler:
            model(*inputs)
        return max(sampler.peak - before, 0) / 2**20
