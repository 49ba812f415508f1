"""Torch datasets of training pairs over a prepared cache (or an MT-format folder).

Every item is a dict in the batch contract of docs/architecture.md: `source`, `reference`, `target` (3xSxS in
[-1, 1]; `target` is zeros without ground truth), `has_target` (bool), `source_masks` / `reference_masks` (4xSxS
float in `HISTOGRAM_REGIONS` order) and `kind` ("synthetic" or "real"). The default collate function turns a list
of items into the batch dict. Items are deterministic in (seed, epoch, index): `dataset[index]` draws for the
epoch last given to `set_epoch`, `dataset[(epoch, index)]` for the epoch named. A training loader passes the epoch
in the key because its persistent workers hold their own copies of the dataset, which a `set_epoch` in the
parent process never reaches.
"""

from __future__ import annotations

import copy
from typing import Mapping

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

Key = int | tuple[int, int]

from makeup.data.augment import FaceAugment, recolour_lips
from makeup.data.triplets import (
    BARE_KINDS,
    DEFAULT_FRACTIONS,
    MAKEUP_KINDS,
    FaceSource,
    split_indices,
    style_bank,
)
from makeup.models.tensors import image_to_tensor
from makeup.regions import HISTOGRAM_REGIONS, histogram_masks
from makeup.synth import render
from makeup.classical.correspondence import Correspondence
from makeup.classical.example import example_transfer, reference_makeup


def split_key(key: Key, default_epoch: int) -> tuple[int, int]:
    """(epoch, index) of a dataset key: an index alone, or an (epoch, index) pair."""
    if isinstance(key, tuple):
        epoch, index = key
        return int(epoch), int(index)
    return default_epoch, int(key)


class _PairDataset(Dataset):
    epoch_keys = True  # `dataset[(epoch, index)]` works; see the module docstring

    def __init__(self, faces: FaceSource, split: str, seed: int, length: int | None, augment: FaceAugment | None,
                 fractions: tuple[float, float, float], warp_reference: bool = False):
        self.faces = faces
        self.warp_reference = warp_reference
        self.fractions = fractions
        self.split = split
        self.seed = seed
        self.augment = augment if augment is not None else (FaceAugment() if split == "train" else FaceAugment.none())
        self.epoch = 0
        self.sources = split_indices(faces, split, seed, kinds=BARE_KINDS, fractions=fractions)
        if not self.sources:
            raise ValueError(f"the {split!r} split has no bare (non-makeup) faces to use as sources")
        self.length = length if length is not None else len(self.sources)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """The epoch that plain `dataset[index]` draws for: each epoch has other pairings, styles and jitter."""
        self.epoch = int(epoch)

    def _rng(self, key: Key) -> np.random.Generator:
        epoch, index = split_key(key, self.epoch)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        return np.random.default_rng([self.seed, epoch, index, self._stream])

    def _landmarks(self, index: int) -> np.ndarray | None:
        """Face `index`'s FaceMesh landmarks; None for sources without any (an MT-format folder): the warps then
        fall back on the similarity alignment the crops share."""
        read = getattr(self.faces, "landmarks", None)
        return read(index) if read else None

    def _reference_on_source(self, reference: np.ndarray, b: int, a: int, replay: np.random.Generator
                             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reference image `reference` (face `b`'s crop, or an edit of it) and its masks moved onto face `a`'s
        geometry through their landmarks (`makeup.classical.correspondence`), then given the flip and jitter the
        source got (`replay`: see `FaceAugment.follow_source`). Without landmarks the warp is the identity."""
        warp = Correspondence(self._landmarks(b), self._landmarks(a), reference.shape[:2])
        masks = {name: warp.warp(mask, cv2.INTER_NEAREST) for name, mask in self.faces.masks(b).items()}
        return self.augment.follow_source(warp.warp(reference), masks, replay)

    def _item(self, source, source_masks, reference, reference_masks, target, kind, makeup_strength=None) -> dict:
        size = source.shape[0]
        if makeup_strength is None:  # a synthetic reference: its look is known to be there
            makeup_strength = np.ones(len(HISTOGRAM_REGIONS), np.float32)
        return {
            "source": image_to_tensor(source)[0],
            "reference": image_to_tensor(reference)[0],
            "target": image_to_tensor(target)[0] if target is not None else torch.zeros(3, size, size),
            "has_target": torch.tensor(target is not None),
            "source_masks": torch.from_numpy(histogram_masks(source_masks)),
            "reference_masks": torch.from_numpy(histogram_masks(reference_masks)),
            # how made up the reference looks per histogram region, 0..1 (`reference_makeup`)
            "reference_makeup": torch.from_numpy(makeup_strength),
            "kind": kind,
        }


class SyntheticTriplets(_PairDataset):
    """Source A, reference B wearing a style from the split's bank, target A wearing the same style.

    A and B are bare faces of different identities in `split`. The source is jittered (flip, small rotation,
    scale, colour) *before* rendering, so the target is exact for the jittered source; the reference is only
    flipped. `length` defaults to the number of source faces (one pass = each source once, on average).
    """

    _stream = 11

    def __init__(self, faces: FaceSource, split: str = "train", seed: int = 0, length: int | None = None,
                 styles: int = 2000, augment: FaceAugment | None = None,
                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                 look_weights: Mapping[str, float] | None = None, warp_reference: bool = False):
        super().__init__(faces, split, seed, length, augment, fractions, warp_reference)
        self.styles = style_bank(split, styles, seed, look_weights)
        identities = {faces.records[i].identity for i in self.sources}
        if len(identities) < 2:
            raise ValueError(f"the {split!r} split needs bare faces of at least two people for triplets")

    def __getitem__(self, key: Key) -> dict:
        rng = self._rng(key)
        a = self.sources[int(rng.integers(len(self.sources)))]
        b = a
        while self.faces.records[b].identity == self.faces.records[a].identity:
            b = self.sources[int(rng.integers(len(self.sources)))]
        style = self.styles[int(rng.integers(len(self.styles)))]
        replay = copy.deepcopy(rng)
        source, source_masks = self.augment.source(self.faces.image(a), self.faces.masks(a), rng)
        target = render(source, source_masks, style)
        if self.warp_reference:
            made_up = render(self.faces.image(b), self.faces.masks(b), style)
            reference, reference_masks = self._reference_on_source(made_up, b, a, replay)
        else:
            reference, reference_masks = self.augment.reference(self.faces.image(b), self.faces.masks(b), rng)
            reference = render(reference, reference_masks, style)
        return self._item(source, source_masks, reference, reference_masks, target, "synthetic")


class RealPairs(_PairDataset):
    """Real pairs: a bare source and a real makeup reference of the split.

    Without `pseudo_targets` they are unpaired (no ground truth): the histogram (makeup) loss uses their masks.
    With it, each pair's target is the example-based transfer of the reference's makeup onto the source
    (`makeup.classical.example`), computed on the cached crops before augmentation, so it depends only on the pair;
    the source and its target are then jittered together, the reference only flipped. With `lip_recolour` > 0,
    that share of the pairs first gives the reference's lips another shade (`recolour_lips`), and the target
    follows it. With `makeup_transplant` > 0, that share of the pairs first carries the reference's makeup onto
    another bare face of the split (by the same transfer), which then serves as the reference: the few real looks
    on many faces, so that the network reads the makeup rather than recognising the face that wears it.
    """

    _stream = 12

    def __init__(self, faces: FaceSource, split: str = "train", seed: int = 0, length: int | None = None,
                 augment: FaceAugment | None = None, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                 pseudo_targets: bool = False, lip_recolour: float = 0.0, makeup_transplant: float = 0.0,
                 warp_reference: bool = False):
        super().__init__(faces, split, seed, length, augment, fractions, warp_reference)
        self.lip_recolour = lip_recolour
        self.makeup_transplant = makeup_transplant
        self.references = split_indices(faces, split, seed, kinds=MAKEUP_KINDS, fractions=fractions)
        if not self.references:
            raise ValueError(f"the {split!r} split has no real makeup faces to use as references")
        self.pseudo_targets = pseudo_targets
        self._makeup_strength: dict[int, np.ndarray] = {}  # per reference face: it depends on the cached crop only

    def makeup_strength(self, reference: int) -> np.ndarray:
        """`reference_makeup` of a reference face, computed once per face (and per data worker)."""
        if reference not in self._makeup_strength:
            self._makeup_strength[reference] = reference_makeup(self.faces.image(reference),
                                                                self.faces.masks(reference))
        return self._makeup_strength[reference]

    def pseudo_target(self, source: int, reference: int, reference_image: np.ndarray | None = None) -> np.ndarray:
        """Face `source` wearing the makeup of face `reference` (or of `reference_image`, that face's crop
        recoloured or wearing another face's makeup), by the example-based transfer (deterministic)."""
        if reference_image is None:
            reference_image = self.faces.image(reference)
        return example_transfer(
            self.faces.image(source), reference_image, self.faces.masks(source),
            self.faces.masks(reference), self._landmarks(source), self._landmarks(reference),
        )

    def __getitem__(self, key: Key) -> dict:
        rng = self._rng(key)
        a = self.sources[int(rng.integers(len(self.sources)))]
        b = self.references[int(rng.integers(len(self.references)))]
        reference_image, edited = self.faces.image(b), False
        if self.lip_recolour > 0 and rng.random() < self.lip_recolour:
            reference_image, edited = recolour_lips(reference_image, self.faces.masks(b), rng), True
        if self.makeup_transplant > 0 and rng.random() < self.makeup_transplant:
            carriers = [face for face in self.sources if face != a]
            if carriers:  # from here on the reference is face `carrier` (its masks and landmarks)
                carrier = carriers[int(rng.integers(len(carriers)))]
                reference_image, edited = self.pseudo_target(carrier, b, reference_image), True
                b = carrier
        target = None
        replay = copy.deepcopy(rng)
        if self.pseudo_targets:
            target = self.pseudo_target(a, b, reference_image)
            source, target, source_masks = self.augment.source_and_target(
                self.faces.image(a), target, self.faces.masks(a), rng)
        else:
            source, source_masks = self.augment.source(self.faces.image(a), self.faces.masks(a), rng)
        if self.warp_reference:
            reference, reference_masks = self._reference_on_source(reference_image, b, a, replay)
        else:
            reference, reference_masks = self.augment.reference(reference_image, self.faces.masks(b), rng)
        # an edited reference is measured afresh; a cached crop's measure is kept per face
        strength = reference_makeup(reference_image, self.faces.masks(b)) if edited else self.makeup_strength(b)
        return self._item(source, source_masks, reference, reference_masks, target, "real", strength)


def worker_init(worker_id: int) -> None:
    """`DataLoader(worker_init_fn=worker_init)`: one OpenCV thread per worker, so workers do not fight over cores
    (OpenCV's own thread pool in every worker makes rendering several times slower on a busy machine)."""
    import cv2

    cv2.setNumThreads(1)


class MixedPairs(Dataset):
    """Synthetic triplets and real pairs in one dataset: each item is real with probability `real_fraction`."""

    epoch_keys = True

    def __init__(self, synthetic: SyntheticTriplets, real: RealPairs | None, real_fraction: float = 0.25,
                 length: int | None = None):
        if real is None and real_fraction > 0:
            raise ValueError("real_fraction > 0 needs a RealPairs dataset")
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must lie in [0, 1], got {real_fraction}")
        self.synthetic, self.real, self.real_fraction = synthetic, real, real_fraction
        self.length = length if length is not None else len(synthetic)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.synthetic.set_epoch(epoch)
        if self.real is not None:
            self.real.set_epoch(epoch)

    def __getitem__(self, key: Key) -> dict:
        epoch, index = split_key(key, self.synthetic.epoch)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        rng = np.random.default_rng([self.synthetic.seed, epoch, index, 13])
        if self.real is not None and rng.random() < self.real_fraction:
            return self.real[(epoch, index % len(self.real))]
        return self.synthetic[(epoch, index % len(self.synthetic))]


def training_pairs(faces: FaceSource, split: str = "train", seed: int = 0, real_fraction: float = 0.25,
                   length: int | None = None, augment: FaceAugment | None = None,
                   fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                   look_weights: Mapping[str, float] | None = None, pseudo_targets: bool = False,
                   lip_recolour: float = 0.0, makeup_transplant: float = 0.0,
                   warp_reference: bool = False) -> Dataset:
    """The usual training mix over a cache: synthetic triplets plus `real_fraction` real pairs (with
    example-based pseudo targets when `pseudo_targets`, `lip_recolour` of them with recoloured lips and
    `makeup_transplant` of them with the reference's makeup worn by another face; see `RealPairs`).

    Falls back on synthetic triplets alone when the split holds no real makeup faces. `look_weights` sets the
    mix of synthetic looks (see `style_bank`). With `warp_reference` every reference arrives already moved onto
    its source's geometry (see `SyntheticTriplets`).
    """
    synthetic = SyntheticTriplets(faces, split, seed=seed, length=length, augment=augment, fractions=fractions,
                                  look_weights=look_weights, warp_reference=warp_reference)
    if real_fraction <= 0 or not split_indices(faces, split, seed, kinds=MAKEUP_KINDS, fractions=fractions):
        return synthetic
    real = RealPairs(faces, split, seed=seed, length=length, augment=augment, fractions=fractions,
                     pseudo_targets=pseudo_targets, lip_recolour=lip_recolour, makeup_transplant=makeup_transplant,
                     warp_reference=warp_reference)
    return MixedPairs(synthetic, real, real_fraction, length)
