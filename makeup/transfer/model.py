"""Stage 3 of the transfer: one model on a prepared pair, all source faces in one batch.

Networks and classical methods have one call shape here: generators take (sources, references), the references
warped onto the sources where their weights say they were trained so; classical methods also take both crops'
region masks and landmarks from the pair stage.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from makeup.models.reference_input import warps_reference
from makeup.models.tensors import image_to_tensor, tensor_to_image
from makeup.transfer.pair import PairNeeds, PreparedPair


def model_needs(network: nn.Module, classical: bool) -> PairNeeds:
    """What `network` asks of the pair stage."""
    from makeup.classical.example_lips import paints_lips_by_example

    if classical:
        return PairNeeds(landmarks=True)
    return PairNeeds(warped_reference=warps_reference(network), example_lips=paints_lips_by_example(network))


@torch.inference_mode()
def run_model(network: nn.Module, classical: bool, pair: PreparedPair,
              device: torch.device) -> tuple[list[np.ndarray], np.ndarray]:
    """Raw outputs for each source crop (uint8 HxWx3) and the reference's makeup-removed crop."""
    sources = image_to_tensor(np.stack([aligned.crop for aligned in pair.source.aligned]), device)
    references = image_to_tensor(np.stack(pair.model_references(not classical and warps_reference(network))),
                                 device)
    if classical:
        transferred, removed = network(sources, references, *_classical_inputs(pair, device))
    else:
        transferred, removed = network(sources, references)
    outputs = tensor_to_image(transferred)
    outputs = [outputs] if outputs.ndim == 3 else list(outputs)
    return outputs, tensor_to_image(removed[:1])


def _classical_inputs(pair: PreparedPair, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(source masks, reference masks, source landmarks, reference landmarks): masks Nx4xHxW in
    HISTOGRAM_REGIONS order, Nx478x2 FaceMesh landmarks in crop pixels."""
    from makeup.regions import HISTOGRAM_REGIONS

    def stacked(masks: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([masks[region] for region in HISTOGRAM_REGIONS])

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)

    count = pair.faces
    return (
        tensor(np.stack([stacked(pair.source_masks(i)) for i in range(count)])),
        tensor(stacked(pair.reference_masks)).expand(count, -1, -1, -1),
        tensor(np.stack([pair.source_landmarks(i) for i in range(count)])),
        tensor(pair.reference_landmarks).expand(count, -1, -1),
    )
