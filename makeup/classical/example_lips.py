"""Lips by example: a generator's output with the lips of the example-based transfer laid over it.

Why: the example-based transfer (`makeup.classical.example`) copies the reference's lip colour pixel by pixel onto
the source's own lip shading, and no network trained here follows it there. On the synthetic test triplets it comes
closer to the exact truth on the lips than the networks (CIEDE2000 5.09 against the two-stage teacher's 5.25, 192
test triplets at 256 px), and on real references it carries lipstick far further (EMD lips 5.64 against that
teacher's 8.82, 48 test pairs); the networks carry eye makeup and keep the skin better than it does. A
weights file whose training summary says `example_lips` is run so: the network's output everywhere but on the
source's lips, the example-based transfer's there (the lip mask feathered over a pixel and a half at 256 px).
Like a warped reference (`makeup.models.reference_input`) it needs both crops' FaceMesh landmarks; where a face
has none, the network's own lips stay.

The work is split as the transfer pipeline shares it: `ReferenceLips` is the reference's own part (its openings
filled, its skin and lip colour), computed once per reference; `lips_layer` is the pair's part, computed only on
the box around the source's lips (a tenth of the crop), through the pair's correspondence; `LipsLayer.over` lays
it on any model's output. The result equals `example_transfer` with every zone but the lips switched off, blended
over the whole crop, within a grey level (what the Lab round trip outside the lips may change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from torch import nn

from makeup.classical.correspondence import Correspondence
from makeup.classical.example import (
    DEFAULT_CONFIG,
    ExampleTransferConfig,
    _blur,
    _check_image,
    _lab,
    _lip_makeup,
    _median_skin,
    _median_skin_of_rgb,
    _rgb,
    fill_openings,
)
from makeup.regions import bounding_box, face_geometry

# The example-based transfer with every zone but the lips switched off: the same lips, without the eye fit that
# takes two thirds of its time.
LIPS_ONLY = replace(DEFAULT_CONFIG, eyes=0.0, eye_relative=0.0, cheeks=0.0, foundation=0.0)
FEATHER_AT_256 = 1.5  # Gaussian sigma of the lip mask's edge, in pixels of a 256 px crop


def paints_lips_by_example(model: nn.Module) -> bool:
    """Whether `model`'s weights ask for the example-based transfer's lips over its output (their training
    summary's `inference` settings, written by `makeup export --example-lips`)."""
    summary = getattr(model, "training_summary", None) or {}
    return bool(summary.get("inference", {}).get("example_lips", False))


@dataclass(frozen=True)
class ReferenceLips:
    """What the example lips need of the reference alone: reusable for every source face and video frame."""

    filled: np.ndarray  # the aligned crop with its eyes and mouth opening filled in (teeth are never copied)
    lips_mask: np.ndarray  # its lip mask, float32
    skin: np.ndarray  # the Lab median of its bare skin
    lip_gate: float  # how far its lip colour is carried: max(bare_lips, how made up its lips look)
    lip_mean: np.ndarray | None  # the Lab mean of its lips; None when it shows too little lip


def reference_lips(reference: np.ndarray, reference_masks: dict[str, np.ndarray],
                   config: ExampleTransferConfig = LIPS_ONLY) -> ReferenceLips:
    """The reference's part of the example lips (uint8 RGB aligned crop, its `makeup.regions` masks)."""
    reference = _check_image(reference, "reference")
    lab = _lab(reference)
    skin = _median_skin(lab, reference_masks)
    own = reference_masks["lips"] > 0.5
    lip_mean = lab[own].mean(axis=0).astype(np.float32) if own.sum() >= 8 else None
    return ReferenceLips(filled=fill_openings(reference, reference_masks),
                         lips_mask=reference_masks["lips"].astype(np.float32), skin=skin,
                         lip_gate=max(config.bare_lips, _lip_makeup(lab, reference_masks, skin)), lip_mean=lip_mean)


@dataclass(frozen=True)
class LipsLayer:
    """The example lips of one source crop: RGB pixels and their feathered weight on a box of the crop."""

    box: tuple[int, int, int, int]  # y0, y1, x0, x1 in crop pixels
    lips: np.ndarray  # uint8 RGB, the box's size
    weight: np.ndarray  # float32 in [0, 1], the box's size

    def over(self, output: np.ndarray) -> np.ndarray:
        """`output` (a model's HxWx3 uint8 crop of the source) with these lips; a new array, the input kept."""
        y0, y1, x0, x1 = self.box
        result = output.copy()
        weight = self.weight[..., None]
        mixed = output[y0:y1, x0:x1].astype(np.float32) * (1.0 - weight) + self.lips.astype(np.float32) * weight
        result[y0:y1, x0:x1] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        return result


def lips_layer(source: np.ndarray, source_masks: dict[str, np.ndarray], reference: ReferenceLips,
               correspondence: Correspondence, config: ExampleTransferConfig = LIPS_ONLY) -> LipsLayer | None:
    """The example lips for `source` (uint8 RGB aligned crop, its masks), or None where either face shows too
    little lip. `correspondence` maps the source crop's pixels into the reference crop (reference -> source)."""
    source = _check_image(source, "source")
    size = source.shape[0]
    source_lips = source_masks["lips"] > 0.5
    if reference.lip_mean is None or not source_lips.any():
        return None
    unit = max(face_geometry(source_masks).eye_distance, 8.0)
    zone_sigma = 0.2 * config.feather * unit
    edge_sigma = FEATHER_AT_256 * size / 256
    # Far enough around the lips that no blur below reaches the box's edge where the layer has any weight.
    box = _box_around(source_masks["lips"] > 0, math.ceil(4 * max(zone_sigma, edge_sigma)) + 2, source.shape[:2])
    y0, y1, x0, x1 = box
    window = (slice(y0, y1), slice(x0, x1))

    source_lab = _lab(source[window])  # Lab of the box alone: the rest of the crop only gives its skin's median
    complexion = reference.skin - _median_skin_of_rgb(source, source_masks)
    eyes = np.maximum(source_masks["eye_left"], source_masks["eye_right"])[window] > 0.5
    keep_out = (~eyes) * (source_masks["mouth"][window] < 0.5) * source_masks["face"][window]
    lips = config.lips * reference.lip_gate * _blur(source_masks["lips"][window], zone_sigma) * keep_out

    warped_lab = _lab(correspondence.warp(reference.filled, box=box))
    coverage = np.clip(correspondence.warp(reference.lips_mask, box=box), 0.0, 1.0)[..., None]
    lip_ab = coverage * warped_lab[..., 1:] + (1.0 - coverage) * reference.lip_mean[1:]
    lip_lightness = float(reference.lip_mean[0]) - config.lip_complexion * complexion[0]
    out = source_lab.copy()
    out[..., 0] += lips * (lip_lightness - source_lab[..., 0][source_lips[window]].mean())
    out[..., 1:] += lips[..., None] * (lip_ab - out[..., 1:])
    weight = cv2.GaussianBlur(source_masks["lips"].astype(np.float32), (0, 0), edge_sigma)[window]
    return LipsLayer(box=box, lips=_rgb(out.astype(np.float32)), weight=weight.astype(np.float32))


def with_example_lips(output: np.ndarray, source: np.ndarray, reference: np.ndarray,
                      source_masks: dict[str, np.ndarray], reference_masks: dict[str, np.ndarray],
                      source_landmarks: np.ndarray | None, reference_landmarks: np.ndarray | None) -> np.ndarray:
    """`output` (a network's HxWx3 uint8 crop for `source`) with the example-based transfer's lips, in one call.

    `source` and `reference` are the aligned uint8 crops, masks dicts of `makeup.regions.REGIONS`, landmarks
    (478, 2) in crop pixels. Pixels away from the source's lips are returned exactly as they were.
    """
    correspondence = Correspondence(reference_landmarks, source_landmarks, source.shape[:2])
    layer = lips_layer(source, source_masks, reference_lips(reference, reference_masks), correspondence)
    return output.copy() if layer is None else layer.over(output)


def _box_around(mask: np.ndarray, margin: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the bounding box of `mask`'s True pixels grown by `margin`, inside `shape`."""
    y0, y1, x0, x1 = bounding_box(mask)
    height, width = shape
    return max(y0 - margin, 0), min(y1 + margin, height), max(x0 - margin, 0), min(x1 + margin, width)
