"""BeautyGAN's makeup loss: L1 to a histogram-matched copy of the output, per face region, batched on device.

For each region (lips, skin, each eye-shadow side) the output's pixels inside the source mask are remapped so that
their per-channel histogram matches the reference's pixels inside the reference mask; the output is then pulled
towards that remapped copy. Unlike widely copied public code, only pixels inside the masks are counted (never the
zeros outside), the whole batch is matched at once on the training device (no CPU loops, any batch size), and
the target is detached, so the gradient flows only through the output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# BeautyGAN's per-region weights, in makeup.regions.HISTOGRAM_REGIONS order (lips, skin, left and right eye shadow)
DEFAULT_REGION_WEIGHTS = (1.0, 0.1, 1.0, 1.0)
LEVELS = 256


def _to_levels(images: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW in [-1, 1] -> Bx3x(HW) integer grey levels 0..255 (the 8-bit values the histograms count)."""
    levels = ((images.detach().float() + 1.0) * 127.5).round().clamp(0, LEVELS - 1).long()
    return levels.flatten(2)


def _histograms(levels: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per sample, region and channel: how many masked pixels have each level. Returns BxRx3x256."""
    batch, regions = masks.shape[:2]
    channels, pixels = levels.shape[1:]
    index = levels[:, None].expand(batch, regions, channels, pixels)
    weights = masks.flatten(2)[:, :, None].expand(batch, regions, channels, pixels).float()
    counts = torch.zeros(batch, regions, channels, LEVELS, device=levels.device)
    return counts.scatter_add_(3, index, weights)


def _matching_table(source_counts: torch.Tensor, template_counts: torch.Tensor) -> torch.Tensor:
    """For every source level, the template level at the same quantile (linear between template levels).

    The same mapping as `skimage.exposure.match_histograms`: the source quantile of a level is its inclusive
    cumulative share, and it is interpolated on the (quantile, level) points of the levels the template uses.
    Returns a float table BxRx3x256.
    """
    source_cdf = source_counts.cumsum(-1) / source_counts.sum(-1, keepdim=True).clamp(min=1.0)
    template_cdf = template_counts.cumsum(-1) / template_counts.sum(-1, keepdim=True).clamp(min=1.0)
    # rounding can leave the last cumulative share a hair below a source quantile of 1: clamp the index
    upper = torch.searchsorted(template_cdf.contiguous(), source_cdf.contiguous()).clamp(max=LEVELS - 1)
    # the first template level whose cumulative share reaches the quantile is always a level the template uses
    # (its share rose there); the level below it is the last used level before it
    level_index = torch.arange(LEVELS, device=source_counts.device).expand_as(template_counts)
    last_used = torch.where(template_counts > 0, level_index, -1).cummax(-1).values
    before = (upper - 1).clamp(min=0)
    lower = torch.where(upper > 0, last_used.gather(-1, before), -1)
    lower_cdf = torch.where(upper > 0, template_cdf.gather(-1, before), 0.0)
    upper_cdf = template_cdf.gather(-1, upper)
    fraction = ((source_cdf - lower_cdf) / (upper_cdf - lower_cdf).clamp(min=1e-12)).clamp(0.0, 1.0)
    interpolated = lower + fraction * (upper - lower)
    # below the template's first quantile, np.interp holds the first template level
    return torch.where(lower < 0, upper.float(), interpolated)


def match_histograms_masked(
    images: torch.Tensor, image_masks: torch.Tensor, templates: torch.Tensor, template_masks: torch.Tensor
) -> torch.Tensor:
    """Histogram-match each image's masked pixels to its template's masked pixels, per region and channel.

    images, templates: Bx3xHxW in [-1, 1] (sizes may differ between the two); masks: BxRxHxW in {0, 1}.
    Returns BxRx3xHxW grey levels in [0, 255] (float, detached), meaningful inside each image mask.
    """
    image_levels = _to_levels(images)
    table = _matching_table(_histograms(image_levels, image_masks), _histograms(_to_levels(templates), template_masks))
    batch, regions = image_masks.shape[:2]
    index = image_levels[:, None].expand(batch, regions, *image_levels.shape[1:])
    matched = table.gather(-1, index)
    return matched.view(batch, regions, 3, *images.shape[2:])


def histogram_loss(
    output: torch.Tensor,
    output_masks: torch.Tensor,
    reference: torch.Tensor,
    reference_masks: torch.Tensor,
    region_weights: Sequence[float] = DEFAULT_REGION_WEIGHTS,
    sample_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted sum over regions of the L1 between the output and its histogram-matched copy, inside the mask.

    As in the BeautyGAN reference code the difference is taken in 8-bit units (0..255) and averaged over the whole
    image (3xHxW), so a region's term grows with its area; that is what the published weights were set against.
    A region empty in either image contributes nothing for that sample. `sample_weights` (B) selects samples,
    e.g. only those with a real makeup reference; (B, R) weighs each sample's regions too, and the mean is then
    over the samples with any weight.
    """
    if len(region_weights) != output_masks.shape[1]:
        raise ValueError(f"{len(region_weights)} region weights for {output_masks.shape[1]} mask channels")
    with torch.autocast(device_type=output.device.type, enabled=False):
        output = output.float()
        output_masks = output_masks.float()
        matched = match_histograms_masked(output, output_masks, reference, reference_masks.float())
        masks = output_masks[:, :, None]
        output_levels = (output[:, None] + 1.0) * 127.5
        per_region = ((output_levels - matched) * masks).abs().flatten(2).mean(-1)  # BxR
        present = (output_masks.flatten(2).amax(-1) > 0) & (reference_masks.flatten(2).amax(-1) > 0)
        weights = torch.tensor(region_weights, device=output.device, dtype=torch.float32)
        if sample_weights is not None and sample_weights.ndim == 2:
            region_gates = sample_weights.to(per_region)
            per_region = per_region * region_gates
            sample_weights = (region_gates.amax(-1) > 0).to(per_region)
        per_sample = (per_region * present * weights).sum(-1)
        if sample_weights is None:
            return per_sample.mean()
        sample_weights = sample_weights.to(per_sample)
        return (per_sample * sample_weights).sum() / sample_weights.sum().clamp(min=1.0)
