"""Kernel decomposition of a trained BeautyGAN into the `decomposed` generator (Yang et al., VCIP 2020, step 1).

Each 3x3 conv of a residual block, W (C_out x C_in x 3 x 3), becomes depthwise 3x3 -> InstanceNorm -> pointwise
1x1. The depthwise kernel of input channel i is the leading right singular vector of W[:, i] (C_out x 9): the best
rank-1 kernel for that channel. The InstanceNorm between the two would rescale every channel by its own spread,
which the teacher never did, so it is calibrated on real activations to give back each channel's typical mean and
spread; the pointwise weights are then fitted to the teacher conv's output on the same activations by ridge
regression towards the SVD's own outer factors. Everything else (encoder, down- and up-sampling, heads) is copied. The decomposed generator starts
close to the teacher and a short distillation closes the rest, where random separable blocks start far away.
A teacher with fewer residual blocks than the target leaves the extra blocks at the identity (their last
InstanceNorm at zero gain and bias).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from makeup.models.layers import DepthwiseSeparableResidualBlock, ResidualBlock


class DecompositionError(ValueError):
    """The teacher and the target do not have the shapes a decomposition needs."""


def _blocks(model: nn.Module, kind: type, what: str) -> list[nn.Module]:
    blocks = getattr(getattr(model, "decoder", None), "blocks", None)
    if blocks is None or not all(isinstance(block, kind) for block in blocks):
        raise DecompositionError(f"{what} has no decoder.blocks of {kind.__name__}")
    return list(blocks)


def rank1_factors(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-1 factors of each input channel's kernels W[:, i] (C_out x k*k): C_in x 1 x k x k depthwise
    kernels (leading right singular vectors times their singular values) and C_out x C_in pointwise weights
    (leading left singular vectors), whose composition is the nearest depthwise-separable conv."""
    out_channels, in_channels, k, _ = weight.shape
    per_input = weight.permute(1, 0, 2, 3).reshape(in_channels, out_channels, k * k)
    u, singular, vh = torch.linalg.svd(per_input.double(), full_matrices=False)
    depthwise = (vh[:, 0, :] * singular[:, :1]).reshape(in_channels, 1, k, k)
    return depthwise.to(weight.dtype), u[:, :, 0].T.to(weight.dtype)


# The ridge, relative to the mean feature energy: a few hundred calibration positions per fit no longer overfit
# (on 2 drawn portraits at 64 px the fit went from 26 to 49 dB), and the shipped teacher loses 0.1 dB of fidelity
# on 16 real val pairs at 128 px.
RIDGE = 1e-3


def _instance_stats(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(dim=(2, 3))
    std = (x.var(dim=(2, 3), unbiased=False) + eps).sqrt()
    return mean, std


@torch.no_grad()
def _decompose_conv(conv: nn.Conv2d, separable: nn.Sequential, inputs: torch.Tensor) -> None:
    """Fill `separable` (depthwise, InstanceNorm, pointwise) from the teacher's `conv`, given its inputs."""
    depthwise, norm, pointwise = separable
    kernels, outer = rank1_factors(conv.weight)
    depthwise.weight.copy_(kernels)
    filtered = F.conv2d(inputs, depthwise.weight, padding=conv.padding, groups=inputs.shape[1])
    mean, std = _instance_stats(filtered, norm.eps)
    # calibrated: on typical inputs the norm hands the pointwise conv the depthwise output as it was
    norm.weight.copy_(std.mean(0))
    norm.bias.copy_(mean.mean(0))
    normalised = norm(filtered)
    target = F.conv2d(inputs, conv.weight, padding=conv.padding)
    # The InstanceNorm after the conv removes each image's per-channel mean: fit on centred features.
    centred_in = normalised - normalised.mean(dim=(2, 3), keepdim=True)
    centred_out = target - target.mean(dim=(2, 3), keepdim=True)
    design = centred_in.permute(0, 2, 3, 1).reshape(-1, centred_in.shape[1]).double()
    wanted = centred_out.permute(0, 2, 3, 1).reshape(-1, centred_out.shape[1]).double()
    # ridge regression towards the SVD's own outer factors, so a small calibration batch cannot overfit
    gram = design.T @ design
    ridge = RIDGE * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    fitted = torch.linalg.solve(gram + ridge, design.T @ wanted + ridge @ outer.double().T)  # C_in x C_out
    pointwise.weight.copy_(fitted.T.reshape(pointwise.weight.shape).to(pointwise.weight.dtype))


@torch.no_grad()
def decompose_into(target: nn.Module, teacher: nn.Module, source: torch.Tensor, reference: torch.Tensor) -> None:
    """Initialise `target` (a `decomposed` generator) from `teacher` (a `beautygan` of the same width and head
    options), calibrating on a batch of (source, reference) images in [-1, 1]."""
    teacher_blocks = _blocks(teacher, ResidualBlock, "the teacher")
    target_blocks = _blocks(target, DepthwiseSeparableResidualBlock, "the target")
    shared = {name: value for name, value in teacher.state_dict().items() if ".blocks." not in name}
    own = {name: value for name, value in target.state_dict().items() if ".blocks." not in name}
    layer_types = [{name: type(module) for name, module in model.named_modules() if ".blocks" not in name}
                   for model in (teacher, target)]
    if (shared.keys() != own.keys() or any(shared[n].shape != own[n].shape for n in shared)
            or layer_types[0].keys() != layer_types[1].keys()
            or any(layer_types[0][n] is not layer_types[1][n] for n in layer_types[0] if n)
            or getattr(teacher, "residual_output", False) != getattr(target, "residual_output", False)):
        raise DecompositionError("the teacher's encoder, down/up-sampling and heads do not match the target's: "
                                 "build the target with the teacher's width, head_depth, residual_output and "
                                 "stem_norm")
    if len(teacher_blocks) > len(target_blocks):
        raise DecompositionError(f"the teacher has {len(teacher_blocks)} residual blocks, the target only "
                                 f"{len(target_blocks)}")
    target.load_state_dict(shared, strict=False)

    # the teacher's own activations at every residual-block conv, on the calibration batch
    convs = [(block.body[0][0], block.body[1][0]) for block in teacher_blocks]
    inputs: dict[nn.Module, torch.Tensor] = {}
    hooks = [conv.register_forward_hook(lambda module, args, _: inputs.__setitem__(module, args[0].float()))
             for pair in convs for conv in pair]
    try:
        teacher.eval()(source, reference)
    finally:
        for hook in hooks:
            hook.remove()

    for (first, second), teacher_block, block in zip(convs, teacher_blocks, target_blocks):
        _decompose_conv(first, block.body[0], inputs[first])
        block.body[1].load_state_dict(teacher_block.body[0][1].state_dict())
        _decompose_conv(second, block.body[3], inputs[second])
        block.body[4].load_state_dict(teacher_block.body[1][1].state_dict())
    for block in target_blocks[len(teacher_blocks):]:
        block.body[4].weight.zero_()
        block.body[4].bias.zero_()
