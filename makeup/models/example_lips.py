"""Lips by example: a generator's output with the lips of the example-based transfer laid over it.

Why: the example-based transfer (`makeup.synth.example`) copies the reference's lip colour pixel by pixel onto the
source's own lip shading, and no network trained here follows it there. On the synthetic test triplets it comes
closer to the exact truth on the lips than the networks (CIEDE2000 5.09 against the two-stage teacher's 5.25, 192
test triplets at 256 px), and on real references it carries lipstick far further (EMD lips 5.64 against that
teacher's 8.82, 48 test pairs); the networks carry eye makeup and keep the skin better than it does. A
weights file whose training summary says `example_lips` is run so: the network's output everywhere but on the
source's lips, the example-based transfer's there (the lip mask feathered over a pixel and a half at 256 px).
Like a warped reference (`makeup.models.reference_input`) it needs both crops' FaceMesh landmarks; where a face
has none, the network's own lips stay.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from torch import nn

from makeup.synth.example import DEFAULT_CONFIG, example_transfer

# The example-based transfer with every zone but the lips switched off: the same lips, without the eye fit that
# takes two thirds of its time.
LIPS_ONLY = replace(DEFAULT_CONFIG, eyes=0.0, eye_relative=0.0, cheeks=0.0, foundation=0.0)
FEATHER_AT_256 = 1.5  # Gaussian sigma of the lip mask's edge, in pixels of a 256 px crop


def paints_lips_by_example(model: nn.Module) -> bool:
    """Whether `model`'s weights ask for the example-based transfer's lips over its output (their training
    summary's `inference` settings, written by `makeup export --example-lips`)."""
    summary = getattr(model, "training_summary", None) or {}
    return bool(summary.get("inference", {}).get("example_lips", False))


def with_example_lips(output: np.ndarray, source: np.ndarray, reference: np.ndarray,
                      source_masks: dict[str, np.ndarray], reference_masks: dict[str, np.ndarray],
                      source_landmarks: np.ndarray | None, reference_landmarks: np.ndarray | None) -> np.ndarray:
    """`output` (a network's HxWx3 uint8 crop for `source`) with the example-based transfer's lips.

    `source` and `reference` are the aligned uint8 crops, masks dicts of `makeup.regions.REGIONS`, landmarks
    (478, 2) in crop pixels. Pixels away from the source's lips are returned exactly as they were.
    """
    lips = example_transfer(source, reference, source_masks, reference_masks, source_landmarks,
                            reference_landmarks, LIPS_ONLY)
    sigma = FEATHER_AT_256 * source.shape[0] / 256
    weight = cv2.GaussianBlur(source_masks["lips"].astype(np.float32), (0, 0), sigma)[..., None]
    mixed = output.astype(np.float32) * (1.0 - weight) + lips.astype(np.float32) * weight
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
