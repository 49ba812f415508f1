"""Semantic relations of a feature map (Li, Jiang, Aarabi, ECCV 2020): how alike every two positions are.

The relation matrix does not depend on the channel count, so a slim student's features can be compared with
the teacher's without an adapter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def relation_matrix(features: torch.Tensor, max_side: int = 64) -> torch.Tensor:
    """N x HW x HW: the cosine similarity of every two positions of an NxCxHxW map, each row L2-normalised.

    Maps larger than `max_side` on a side are average-pooled to it first (a 256x256 map would make a
    65536 x 65536 matrix)."""
    if features.ndim != 4:
        raise ValueError(f"features must be NxCxHxW, got shape {tuple(features.shape)}")
    height, width = features.shape[-2:]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        features = F.adaptive_avg_pool2d(features, (max(1, round(height * scale)), max(1, round(width * scale))))
    positions = F.normalize(features.flatten(2).float(), dim=1)  # N x C x HW, unit vector per position
    similarity = positions.transpose(1, 2) @ positions  # N x HW x HW
    return F.normalize(similarity, dim=2)
