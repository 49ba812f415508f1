"""Training data: the prepared face cache, synthetic triplets, real unpaired pairs and the MT-format reader.

Everything here runs with numpy, OpenCV and torch only, so a bare GPU machine can train from a prepared cache.
"""

from makeup.data.augment import FaceAugment
from makeup.data.cache import CacheError, FaceCache, FaceRecord, write_cache
from makeup.data.datasets import MixedPairs, RealPairs, SyntheticTriplets, training_pairs, worker_init
from makeup.data.mt import MTFaces, MTFormatError
from makeup.data.triplets import (
    SPLITS,
    Triplet,
    make_triplets,
    render_triplet,
    split_indices,
    split_of,
    style_bank,
)

__all__ = [
    "SPLITS",
    "CacheError",
    "FaceAugment",
    "FaceCache",
    "FaceRecord",
    "MTFaces",
    "MTFormatError",
    "MixedPairs",
    "RealPairs",
    "SyntheticTriplets",
    "Triplet",
    "make_triplets",
    "render_triplet",
    "split_indices",
    "split_of",
    "style_bank",
    "training_pairs",
    "worker_init",
    "write_cache",
]
