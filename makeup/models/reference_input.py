"""What a generator expects as its reference: the aligned crop, or the crop already moved onto the source's face.

A generator trained with `warp_reference` (`makeup.train.config.TrainConfig`) saw every reference warped onto
its source's geometry through their FaceMesh landmarks (`makeup.synth.correspondence`): its lips on the
source's lips, its lids on the source's lids, so copying makeup is a local job and does not depend on the
network finding the reference's features itself. Its weights file records that in the training config, and
whoever runs it (the pipeline, the evaluation) must warp the reference the same way; weights trained without it
take the aligned crop as it is.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from makeup.synth.correspondence import warp_to


def warps_reference(model: nn.Module) -> bool:
    """Whether `model` was trained on references warped onto their sources (its weights' training config)."""
    summary = getattr(model, "training_summary", None) or {}
    return bool(summary.get("config", {}).get("warp_reference", False))


def reference_for(model: nn.Module, reference: np.ndarray, reference_landmarks: np.ndarray | None,
                  source_landmarks: np.ndarray | None) -> np.ndarray:
    """The reference crop as `model` wants it: warped onto the source's geometry when it was trained so (and both
    faces have landmarks), else unchanged. Without landmarks the aligned crop is the closest input it knows: the
    crops already share a similarity alignment."""
    if not warps_reference(model):
        return reference
    return warp_to(reference, reference_landmarks, source_landmarks)
