"""Least-squares GAN (LSGAN) losses: mean squared error to the labels 1 (real) and 0 (fake)."""

from __future__ import annotations

import torch


def _weighted_mean_square(logits: torch.Tensor, label: float, weights: torch.Tensor | None) -> torch.Tensor:
    """Per-sample mean of (logits - label)^2, averaged over samples with optional per-sample weights."""
    per_sample = (logits.float() - label).pow(2).flatten(1).mean(dim=1)
    if weights is None:
        return per_sample.mean()
    weights = weights.to(per_sample)
    # clamp keeps an all-zero weight vector from dividing by zero (the loss is then 0 with a valid graph)
    return (per_sample * weights).sum() / weights.sum().clamp(min=1.0)


def lsgan_generator_loss(fake_logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The generator wants the discriminator to call its outputs real: mean (D(fake) - 1)^2."""
    return _weighted_mean_square(fake_logits, 1.0, weights)


def lsgan_discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_weights: torch.Tensor | None = None,
    fake_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """0.5 * (mean (D(real) - 1)^2 + mean D(fake)^2), as BeautyGAN halves the discriminator loss.

    `real_weights` / `fake_weights` (one per sample, e.g. 1 for real makeup references and 0 for rendered ones)
    let a mixed batch use only some of its samples as real examples.
    """
    real = _weighted_mean_square(real_logits, 1.0, real_weights)
    fake = _weighted_mean_square(fake_logits, 0.0, fake_weights)
    return 0.5 * (real + fake)
