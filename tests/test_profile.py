"""The profiler against hand-computed figures: MACs of tiny conv, depthwise and transposed-conv nets, params,
latency bookkeeping and peak memory."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from makeup.bench.profile import (
    count_flops,
    count_macs,
    count_params,
    example_inputs,
    example_region_masks,
    measure_latency,
    measure_peak_memory_mb,
)


def test_plain_conv_macs():
    # every one of the 8x16x16 outputs takes 3 input channels x 3x3 taps; the bias adds no MACs
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, torch.zeros(1, 3, 16, 16)) == 8 * 16 * 16 * 3 * 9


def test_strided_conv_macs_scale_with_output_size_and_batch():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
    assert count_macs(conv, torch.zeros(2, 4, 16, 16)) == 2 * (6 * 8 * 8) * (4 * 9)


def test_depthwise_conv_macs():
    # groups = channels: each output sees only its own channel's 3x3 taps
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert count_macs(conv, torch.zeros(1, 8, 16, 16)) == 8 * 16 * 16 * 9


def test_transposed_conv_macs():
    # each of the 8x8x8 input values is multiplied into a 4x4 patch of each of the 4 output channels
    # (the count some tools get 4x too high for stride 2)
    up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, bias=False)
    assert count_macs(up, torch.zeros(1, 8, 8, 8)) == 8 * 8 * 8 * 4 * 16


def test_a_small_net_sums_its_layers_and_flops_are_twice_macs():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),            # 8*16*16*27 = 55_296
        nn.InstanceNorm2d(8, affine=True),                    # not counted
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),  # 8*16*16*9  = 18_432
        nn.Conv2d(8, 16, 1, bias=False),                      # 16*16*16*8 = 32_768
        nn.ConvTranspose2d(16, 4, 4, 2, 1, bias=False),       # 16*16*16*4*16 = 262_144
        nn.Flatten(),
        nn.Linear(4 * 32 * 32, 5),                            # 4096*5 = 20_480
    )
    inputs = torch.zeros(1, 3, 16, 16)
    expected = 55_296 + 18_432 + 32_768 + 262_144 + 20_480
    assert count_macs(net, inputs) == expected
    assert count_flops(net, inputs) == 2 * expected


def test_params_count_shared_weights_once():
    conv = nn.Conv2d(3, 8, 3)
    assert count_params(nn.Sequential(conv, nn.ReLU(), conv)) == 8 * 3 * 9 + 8


def test_example_inputs_per_kind():
    assert [t.shape for t in example_inputs("generator", 32, batch=2)] == [(2, 3, 32, 32)] * 2
    assert [t.shape for t in example_inputs("discriminator", 32)] == [(1, 3, 32, 32)]
    source, reference, source_masks, reference_masks, source_landmarks, _ = example_inputs("classical", 64)
    assert source_masks.shape == (1, 4, 64, 64) and source_landmarks.shape == (1, 478, 2)
    assert 0 <= source_landmarks.min() and source_landmarks.max() <= 63
    assert source.min() >= -1 and source.max() <= 1 and not torch.equal(source, reference)
    masks = example_region_masks(100)
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert masks[0, 1].sum() > masks[0, 0].sum() > 0  # skin larger than lips


def test_latency_reports_the_runs_and_restores_the_thread_count():
    calls = []
    before = torch.get_num_threads()

    def model(x: torch.Tensor) -> torch.Tensor:
        calls.append(torch.get_num_threads())
        assert torch.is_inference_mode_enabled()
        return x * 2

    latency = measure_latency(model, [torch.zeros(4)], repeats=5, warmup=2, threads=1)
    assert len(calls) == 7 and set(calls) == {1}
    assert latency.repeats == 5 and latency.warmup == 2 and latency.threads == 1 and latency.device == "cpu"
    assert 0 <= latency.min_ms <= latency.median_ms <= latency.max_ms
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        measure_latency(model, [torch.zeros(1)], repeats=0)


def test_peak_memory_sees_a_large_intermediate():
    size = 4096 * 4096  # 64 MiB of float32, freed before the call returns

    def model(x: torch.Tensor) -> torch.Tensor:
        big = torch.ones(size) * x
        return big.sum()

    peak = measure_peak_memory_mb(model, [torch.ones(1)])
    if peak is None:
        pytest.skip("peak memory is only measured where glibc is the allocator")
    assert 60 <= peak < 200
    assert measure_peak_memory_mb(lambda x: x + 1, [torch.ones(1)]) < 8
