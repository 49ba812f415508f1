"""What a generator expects as its reference: the aligned crop, or the crop already moved onto the source's face.

A generator trained with `warp_reference` (`makeup.train.config.TrainConfig`) saw every reference warped onto
its source's geometry through their FaceMesh landmarks (`makeup.classical.correspondence`): its lips on the
source's lips, its lids on the source's lids, so copying makeup is a local job and does not depend on the
network finding the reference's features itself. Its weights file records that in the training config, and
whoever runs it (the pipeline, the evaluation) must warp the reference the same way, with
`makeup.classical.correspondence.warp_to`; weights trained without it take the aligned crop as it is. Where a face
has no landmarks, the aligned crop is the closest input such a model knows: crops share a similarity alignment.
"""

from __future__ import annotations

from torch import nn


def warps_reference(model: nn.Module) -> bool:
    """Whether `model` was trained on references warped onto their sources (its weights' training config)."""
    summary = getattr(model, "training_summary", None) or {}
    return bool(summary.get("config", {}).get("warp_reference", False))
