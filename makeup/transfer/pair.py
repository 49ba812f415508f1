"""Stage 2 of the transfer: what every model of a comparison shares about one (source, reference) pair.

FaceMesh landmarks and region masks of both crops, the correspondence between them, the reference warped onto
each source face (the input of generators trained on warped references, `makeup.models.reference_input`) and the
example lips (`makeup.classical.example_lips`, laid over the output of weights that ask for them) are computed
here once, however many models then run. Only what the models asked for is computed (`PairNeeds`): a generator
on aligned crops needs none of it. The reference's own part (landmarks, masks, its lips' colour) is memoised
on its `PreparedImage`, so a cached reference brings it along.

Where FaceMesh is not installed or finds no face in a crop, the pair says why (`missing`) and the models fall
back: the aligned reference crop instead of the warped one (crops share a similarity alignment), the network's
own lips instead of the example lips. Classical methods and partial makeup cannot do without and raise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from makeup.classical.correspondence import Correspondence
from makeup.face.errors import FaceError
from makeup.transfer.images import PreparedImage, elapsed_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairNeeds:
    """What the models and options of a request need from the pair stage."""

    landmarks: bool = False  # landmarks and masks of both crops, required (classical methods, partial makeup)
    warped_reference: bool = False  # the reference moved onto each source face, with a fallback
    example_lips: bool = False  # the example lips of each source face, with a fallback

    def __or__(self, other: PairNeeds) -> PairNeeds:
        return PairNeeds(self.landmarks or other.landmarks, self.warped_reference or other.warped_reference,
                         self.example_lips or other.example_lips)

    @property
    def any(self) -> bool:
        return self.landmarks or self.warped_reference or self.example_lips


@dataclass
class PreparedPair:
    """One (source photo, reference photo) pair ready for any model: per source face, its share of the pair.

    `missing` says why landmarks are absent (None when they were not needed or were found)."""

    source: PreparedImage
    reference: PreparedImage
    needs: PairNeeds = PairNeeds()
    missing: str | None = None
    warped_references: list[np.ndarray] = field(default_factory=list)
    lips_layers: list = field(default_factory=list)  # LipsLayer or None per source face
    ms: float = 0.0  # time this stage took

    @property
    def faces(self) -> int:
        return len(self.source.aligned)

    @property
    def shared_timings(self) -> dict[str, float]:
        """Milliseconds of the stages every model of a comparison shares: load, detect and align of both photos
        (0 for a cached reference), and this pair stage."""
        shared = {stage: self.source.timings.get(stage, 0.0) + self.reference.timings.get(stage, 0.0)
                  for stage in ("load", "detect", "align")}
        shared["pair"] = self.ms
        return shared

    @property
    def has_landmarks(self) -> bool:
        return self.needs.any and self.missing is None

    def source_landmarks(self, index: int) -> np.ndarray:
        return self.source.crop_landmarks(index)

    def source_masks(self, index: int) -> dict[str, np.ndarray]:
        return self.source.crop_masks(index)

    @property
    def reference_landmarks(self) -> np.ndarray:
        return self.reference.crop_landmarks()

    @property
    def reference_masks(self) -> dict[str, np.ndarray]:
        return self.reference.crop_masks()

    def model_references(self, warped: bool) -> list[np.ndarray]:
        """The reference crop each source face's model call takes: warped onto that face where the model was
        trained so and the warp could be made, the aligned crop otherwise."""
        if warped and self.warped_references:
            return self.warped_references
        return [self.reference.crop] * self.faces


def prepare_pair(source: PreparedImage, reference: PreparedImage, needs: PairNeeds) -> PreparedPair:
    """The pair stage for `needs`: computed once, reused by every model of the request."""
    start = time.perf_counter()
    pair = PreparedPair(source, reference, needs)
    if needs.any:
        # masks cost about as much as FaceMesh itself: only what asks for them computes them
        find = (lambda image, index: image.crop_masks(index)) if needs.landmarks or needs.example_lips else (
            lambda image, index: image.crop_landmarks(index))
        try:
            find(reference, 0)
            for index in range(pair.faces):
                find(source, index)
        except (ImportError, FaceError) as error:
            if needs.landmarks:
                raise
            pair.missing = str(error)
            log.warning("pair stage without landmarks: reference not warped, lips left to the network (%s)", error)
    if pair.has_landmarks and (needs.warped_reference or needs.example_lips):
        _warp_and_lips(pair)
    pair.ms = elapsed_ms(start)
    return pair


def _warp_and_lips(pair: PreparedPair) -> None:
    reference = pair.reference
    lips_of_reference = (reference.memo("example_lips", 0, lambda: reference_lips_part(reference.crop,
                                                                                         reference.crop_masks()))
                         if pair.needs.example_lips else None)
    for index, aligned in enumerate(pair.source.aligned):
        masks = pair.source_masks(index) if lips_of_reference is not None else None
        warped, layer = face_share(aligned.crop, pair.source_landmarks(index), masks, reference.crop,
                                   pair.reference_landmarks, lips_of_reference, pair.needs.warped_reference)
        if warped is not None:
            pair.warped_references.append(warped)
        if lips_of_reference is not None:
            pair.lips_layers.append(layer)


def reference_lips_part(reference: np.ndarray, reference_masks: dict[str, np.ndarray]):
    """The reference's own part of the example lips (`makeup.classical.example_lips.ReferenceLips`)."""
    from makeup.classical.example_lips import reference_lips

    return reference_lips(reference, reference_masks)


def face_share(source: np.ndarray, source_landmarks: np.ndarray | None, source_masks: dict[str, np.ndarray] | None,
               reference: np.ndarray, reference_landmarks: np.ndarray | None, lips_of_reference, warp: bool):
    """One source face's share of the pair stage, through one correspondence with the reference: (the reference
    crop warped onto it when `warp`, else None; its example lips when `lips_of_reference` is given, else None).
    Without landmarks on either side the correspondence is the identity. `makeup eval` shares it too."""
    from makeup.classical.example_lips import lips_layer

    correspondence = Correspondence(reference_landmarks, source_landmarks, source.shape[:2])
    warped = correspondence.warp(reference) if warp else None
    layer = (lips_layer(source, source_masks, lips_of_reference, correspondence)
             if lips_of_reference is not None else None)
    return warped, layer
