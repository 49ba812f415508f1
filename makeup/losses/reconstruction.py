"""Reconstruction losses: cycle consistency, identity, and paired supervision against ground truth."""

from __future__ import annotations

import torch


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """L1 between an image and its round trip through the generator (transfer, then transfer back)."""
    return (reconstructed.float() - original.float()).abs().mean()


def identity_loss(output: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """L1 between G(x, x) and x: transferring a face's own makeup onto itself must change nothing."""
    return (output.float() - image.float()).abs().mean()


def paired_l1_loss(output: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor,
                   pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 to the ground truth over the samples that have one (synthetic triplets); 0 when none has.

    Samples without ground truth carry zeros in `target`; they are left out rather than pulled towards black.
    `pixel_weights` (Bx1xHxW) multiplies each pixel's error before the mean.
    """
    return _paired_mean((output.float() - target.float()).abs(), has_target, pixel_weights)


def paired_l2_loss(output: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor,
                   pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """`paired_l1_loss` with squared errors.

    A residual generator trained with L1 collapses to the identity: on the ~95% of pixels that makeup leaves
    alone, L1 pushes every small correction to exactly zero (its gradient does not shrink with the error), which
    zeroes the output conv and starves the layers below it. The squared error's gradient shrinks with the error.
    """
    return _paired_mean((output.float() - target.float()).square(), has_target, pixel_weights)


def _paired_mean(errors: torch.Tensor, has_target: torch.Tensor, pixel_weights: torch.Tensor | None) -> torch.Tensor:
    if pixel_weights is not None:
        errors = errors * pixel_weights.float()
    return _mean_over_samples(errors.flatten(1).mean(dim=1), has_target)


def preservation_loss(output: torch.Tensor, image: torch.Tensor, makeup_masks: torch.Tensor,
                      sample_weights: torch.Tensor) -> torch.Tensor:
    """Mean L1 between `output` and the `image` it edits over the pixels outside every makeup region.

    Makeup leaves hair, background, eyes and brows alone; for pairs without ground truth (real references) this is
    the part of the answer that is known. `makeup_masks` is Bx R x H x W; `sample_weights` (B) picks the samples.
    """
    outside = 1.0 - makeup_masks.float().amax(dim=1, keepdim=True)
    difference = (output.float() - image.float()).abs() * outside
    per_sample = difference.flatten(1).sum(dim=1) / (3.0 * outside.flatten(1).sum(dim=1)).clamp(min=1.0)
    return _mean_over_samples(per_sample, sample_weights)


def _mean_over_samples(per_sample: torch.Tensor, sample_weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean of per-sample losses; 0 when every weight is 0."""
    weights = sample_weights.to(per_sample)
    return (per_sample * weights).sum() / weights.sum().clamp(min=1.0)
