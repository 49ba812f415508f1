"""Stage 4 of the transfer: from a model's raw crop to the made-up crop that is pasted back.

The example lips over the output of weights that ask for them (from the pair stage), then the intensity, then
the chosen face parts only (`makeup.partial`).
"""

from __future__ import annotations

import numpy as np

from makeup.partial import keep_regions, region_weight
from makeup.transfer.pair import PreparedPair


def finish(outputs: list[np.ndarray], pair: PreparedPair, example_lips: bool, intensity: float,
           regions: tuple[str, ...] | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(finished outputs: the model's crops with the example lips where asked for, made-up crops: those moved
    from each source crop by `intensity` and kept to `regions`)."""
    if example_lips and pair.lips_layers:
        outputs = [output if layer is None else layer.over(output)
                   for output, layer in zip(outputs, pair.lips_layers)]
    made_up = [blend(aligned.crop, output, intensity) for aligned, output in zip(pair.source.aligned, outputs)]
    if regions is not None:
        made_up = [keep_regions(aligned.crop, crop, region_weight(pair.source_masks(i), regions))
                   for i, (aligned, crop) in enumerate(zip(pair.source.aligned, made_up))]
    return outputs, made_up


def blend(source: np.ndarray, output: np.ndarray, intensity: float) -> np.ndarray:
    """`source` moved toward `output` by `intensity` (0: source, 1: output), as uint8."""
    if intensity >= 1.0:
        return output
    if intensity <= 0.0:
        return source
    mixed = source.astype(np.float32) + (output.astype(np.float32) - source) * intensity
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
