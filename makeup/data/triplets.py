"""Splits by identity and by style, and synthetic triplets: (source A, reference B wearing s, A wearing s).

Both splits are deterministic given a seed. A face's split depends only on (seed, its identity), so adding faces
to a cache never moves the others; styles come from separate banks per split, and the named presets are kept
for evaluation, so no evaluation identity or style is ever seen in training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Protocol

import numpy as np

from makeup.synth import LOOKS, PRESETS, MakeupStyle, random_style, render

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
# Faces that carry makeup already make poor sources and references for synthetic looks: they are the real
# references of the unpaired pairs instead.
BARE_KINDS = ("non-makeup", "face")
MAKEUP_KINDS = ("makeup",)
_SPLIT_STREAM = {"train": 1, "val": 2, "test": 3}


class FaceSource(Protocol):
    """What the datasets read: a prepared `FaceCache` or an MT-format folder (`makeup.data.mt.MTFaces`)."""

    size: int
    records: list

    def __len__(self) -> int: ...

    def image(self, index: int) -> np.ndarray: ...

    def masks(self, index: int) -> dict[str, np.ndarray]: ...


def split_of(identity: str, seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """The split ("train", "val" or "test") of one identity: a stable hash of (seed, identity) against `fractions`."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    digest = hashlib.sha256(f"{seed}:{identity}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = np.cumsum(fractions)
    return SPLITS[int(np.searchsorted(cumulative, position, side="right").clip(max=2))]


def split_indices(faces: FaceSource, split: str, seed: int = 0, kinds: tuple[str, ...] | None = None,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> list[int]:
    """Indices of the faces whose identity falls in `split`, optionally only those of the given kinds."""
    _check_split(split)
    return [
        i for i, record in enumerate(faces.records)
        if split_of(record.identity, seed, fractions) == split and (kinds is None or record.kind in kinds)
    ]


def style_bank(split: str, count: int, seed: int = 0,
               look_weights: Mapping[str, float] | None = None) -> list[MakeupStyle]:
    """`count` random looks reserved for `split`, drawn from that split's own random stream.

    The evaluation banks ("val", "test") start with the named presets, which training never sees. `look_weights`
    (look name -> relative weight, e.g. `{"everyday": 1, "bold-eyes": 1}`) replaces the usual mix of looks
    (`makeup.synth.LOOK_WEIGHTS`); None or empty keeps it.
    """
    _check_split(split)
    rng = np.random.default_rng([seed, _SPLIT_STREAM[split], 0x5717E])
    if look_weights:
        names, probabilities = look_probabilities(look_weights)
        styles = [random_style(rng, names[int(rng.choice(len(names), p=probabilities))]) for _ in range(count)]
    else:
        styles = [random_style(rng) for _ in range(count)]
    if split != "train":
        styles = list(PRESETS.values()) + styles
    return styles


@dataclass(frozen=True)
class Triplet:
    """One synthetic example: face indices of source A and reference B, and the style both wear."""

    source: int
    reference: int
    style: MakeupStyle
    style_name: str


def make_triplets(faces: FaceSource, split: str, count: int, seed: int = 0, styles: int = 100,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> list[Triplet]:
    """`count` fixed triplets of `split` (e.g. held-out test triplets for evaluation), deterministic in `seed`.

    Sources and references are bare faces of the split with different identities; styles come from the split's
    bank of `styles` random looks (plus the presets for "val" and "test"), used in turn.
    """
    candidates = split_indices(faces, split, seed, kinds=BARE_KINDS, fractions=fractions)
    identities = {faces.records[i].identity for i in candidates}
    if len(identities) < 2:
        raise ValueError(
            f"split {split!r} has {len(identities)} identities of bare faces; triplets need at least two different "
            "people: use a larger face set or other split fractions"
        )
    bank = style_bank(split, styles, seed)
    names = [f"preset:{name}" for name in PRESETS] if split != "train" else []
    names += [f"{split}-{i}" for i in range(len(bank) - len(names))]
    rng = np.random.default_rng([seed, _SPLIT_STREAM[split], 0x791])
    triplets = []
    for n in range(count):
        source, reference = _pick_pair(faces, candidates, rng)
        k = n % len(bank)
        triplets.append(Triplet(source, reference, bank[k], names[k]))
    return triplets


def render_triplet(faces: FaceSource, triplet: Triplet) -> dict[str, np.ndarray]:
    """Images of a triplet: source (A), reference (B wearing the style), target (A wearing it) and both masks."""
    source, source_masks = faces.image(triplet.source), faces.masks(triplet.source)
    reference, reference_masks = faces.image(triplet.reference), faces.masks(triplet.reference)
    return {
        "source": np.ascontiguousarray(source),
        "reference": render(reference, reference_masks, triplet.style),
        "target": render(source, source_masks, triplet.style),
        "source_masks": source_masks,
        "reference_masks": reference_masks,
    }


def _pick_pair(faces: FaceSource, candidates: list[int], rng: np.random.Generator) -> tuple[int, int]:
    source = candidates[int(rng.integers(len(candidates)))]
    others = [i for i in candidates if faces.records[i].identity != faces.records[source].identity]
    return source, others[int(rng.integers(len(others)))]


def look_probabilities(look_weights: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    """The look names and their probabilities from relative `look_weights`; ValueError if they cannot be used."""
    unknown = sorted(set(look_weights) - set(LOOKS))
    if unknown:
        raise ValueError(f"unknown looks {unknown} in the look weights: use {', '.join(LOOKS)}")
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in look_weights.values()):
        raise ValueError(f"look weights must be numbers, got {dict(look_weights)}")
    weights = np.array([float(w) for w in look_weights.values()])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"look weights must be non-negative with a positive sum, got {dict(look_weights)}")
    return list(look_weights), weights / weights.sum()


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
