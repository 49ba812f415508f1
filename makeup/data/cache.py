"""The prepared face cache: aligned crops, region masks and landmarks in one folder, read with numpy alone.

Layout of a cache folder (written by `makeup prepare`):
- `faces.npz` (compressed, no pickle): `images` (N, 3, S, S) uint8, the crops coded losslessly so that zlib
  packs them tighter (planes R-G, G, B-G, each row stored as its difference from the row above; see
  `encode_images`: about 80 KB per 256 px face instead of 145 KB); `masks` (N, R, S, ceil(S/8)) uint8, the
  R region masks of `meta.json`'s `regions` bit-packed along the width; `landmarks` (N, 478, 2) float32 FaceMesh
  points in crop pixels (NaN where masks came from a label map).
- `meta.json`: format, version, crop size, region names and one record per face (id, image path, kind,
  identity, licence, where its masks came from, the alignment transform), plus the images that were skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from makeup.data.made_up import with_judged_kind
from makeup.regions import HISTOGRAM_REGIONS, LANDMARK_COUNT, REGIONS

CACHE_FORMAT = "makeup-face-cache"
CACHE_VERSION = 1
ARRAYS_FILE = "faces.npz"
META_FILE = "meta.json"
IMAGE_CODING = "planar-green-difference-vertical-delta"


class CacheError(ValueError):
    """A prepared cache is missing, damaged or of an unknown format."""


@dataclass
class FaceRecord:
    """What the cache knows about one face besides its pixels."""

    id: str
    image: str
    kind: str
    identity: str
    licence: str = ""
    source: str = ""
    masks_from: str = "facemesh"
    transform: list[list[float]] = field(default_factory=lambda: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    @classmethod
    def from_json(cls, data: dict) -> "FaceRecord":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


def pack_masks(masks: dict[str, np.ndarray] | np.ndarray, regions: tuple[str, ...] = REGIONS) -> np.ndarray:
    """One face's masks (a dict by region name, or an (R, S, S) array in `regions` order) -> (R, S, ceil(S/8)) bits."""
    if isinstance(masks, dict):
        masks = np.stack([masks[name] for name in regions])
    return np.packbits(np.asarray(masks) > 0.5, axis=-1)


def write_cache(
    root: str | Path,
    images: np.ndarray,
    packed_masks: np.ndarray,
    landmarks: np.ndarray,
    records: list[FaceRecord],
    skipped: list[dict] | None = None,
    regions: tuple[str, ...] = REGIONS,
) -> Path:
    """Write a cache folder atomically: `images` (N,S,S,3) uint8 RGB, `packed_masks` (N,R,S,ceil(S/8)) from
    `pack_masks` per face, `landmarks` (N,478,2) float (NaN where unknown), and one record per face."""
    root = Path(root)
    images = np.asarray(images, dtype=np.uint8)
    count = len(records)
    if images.ndim != 4 or images.shape[0] != count or images.shape[1] != images.shape[2] or images.shape[3] != 3:
        raise CacheError(f"expected {count} square RGB crops (N, S, S, 3), got {images.shape}")
    size = images.shape[1]
    packed = np.asarray(packed_masks, dtype=np.uint8)
    if packed.shape != (count, len(regions), size, (size + 7) // 8):
        raise CacheError(
            f"expected packed masks of shape {(count, len(regions), size, (size + 7) // 8)} (see pack_masks), "
            f"got {packed.shape}"
        )
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.shape != (count, LANDMARK_COUNT, 2):
        raise CacheError(f"expected landmarks of shape {(count, LANDMARK_COUNT, 2)}, got {landmarks.shape}")
    root.mkdir(parents=True, exist_ok=True)
    arrays_tmp = root / (ARRAYS_FILE + ".tmp")
    with open(arrays_tmp, "wb") as handle:
        np.savez_compressed(handle, images=encode_images(images), masks=packed, landmarks=landmarks)
    meta = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "size": size,
        "image_coding": IMAGE_CODING,
        "regions": list(regions),
        "faces": [record.__dict__ for record in records],
        "skipped": list(skipped or []),
    }
    meta_tmp = root / (META_FILE + ".tmp")
    meta_tmp.write_text(json.dumps(meta, indent=1))
    os.replace(arrays_tmp, root / ARRAYS_FILE)
    os.replace(meta_tmp, root / META_FILE)
    return root


def encode_images(images: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB -> (N, 3, S, S) uint8 residuals that compress well (exactly reversible)."""
    planes = images.transpose(0, 3, 1, 2).astype(np.int16)
    planes[:, 0] -= planes[:, 1]  # neighbouring colour channels are strongly correlated
    planes[:, 2] -= planes[:, 1]
    residual = np.diff(planes, axis=2, prepend=0)  # and so are neighbouring rows
    return np.ascontiguousarray(residual.astype(np.uint8))  # wraps modulo 256, undone by decode_images


def decode_images(coded: np.ndarray) -> np.ndarray:
    """Inverse of `encode_images`: (N, 3, S, S) residuals -> (N, S, S, 3) uint8 RGB."""
    planes = np.cumsum(coded, axis=2, dtype=np.uint8)
    planes[:, 0] += planes[:, 1]
    planes[:, 2] += planes[:, 1]
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1))


class FaceCache:
    """Read a prepared cache: crops, masks and records by index. Everything is held in memory once loaded."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_path, arrays_path = self.root / META_FILE, self.root / ARRAYS_FILE
        if not meta_path.is_file() or not arrays_path.is_file():
            raise CacheError(
                f"no prepared face cache at {self.root} (expected {META_FILE} and {ARRAYS_FILE}): "
                "create one with `makeup prepare --faces DIR -o CACHE`"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise CacheError(f"{meta_path} is not readable JSON ({error}): prepare the cache again") from error
        found = (meta.get("format"), meta.get("version"), meta.get("image_coding"))
        if found != (CACHE_FORMAT, CACHE_VERSION, IMAGE_CODING):
            raise CacheError(
                f"{meta_path} is format {meta.get('format')!r} version {meta.get('version')!r} coding "
                f"{meta.get('image_coding')!r}; this version of makeup reads {CACHE_FORMAT!r} version {CACHE_VERSION} "
                f"coding {IMAGE_CODING!r}: prepare the cache again"
            )
        try:
            with np.load(arrays_path, allow_pickle=False) as arrays:
                self._images = decode_images(arrays["images"])
                self._masks = arrays["masks"]
                self._landmarks = arrays["landmarks"]
        except (OSError, ValueError, KeyError) as error:
            raise CacheError(f"{arrays_path} is damaged or incomplete ({error}): prepare the cache again") from error
        self.size: int = int(meta["size"])
        self.regions: tuple[str, ...] = tuple(meta["regions"])
        # the kind a face plays: unlabelled faces judged to wear makeup are references (see makeup.data.made_up)
        self.records: list[FaceRecord] = [with_judged_kind(FaceRecord.from_json(item)) for item in meta["faces"]]
        self.skipped: list[dict] = list(meta.get("skipped", []))
        if not (len(self._images) == len(self._masks) == len(self._landmarks) == len(self.records)):
            raise CacheError(
                f"{self.root}: arrays and records disagree on the number of faces: prepare the cache again"
            )
        missing = [name for name in HISTOGRAM_REGIONS if name not in self.regions]
        if missing:
            raise CacheError(f"{self.root} lacks the regions {missing}: prepare the cache again")
        self._region_index = {name: i for i, name in enumerate(self.regions)}

    def __len__(self) -> int:
        return len(self.records)

    def image(self, index: int) -> np.ndarray:
        """The aligned crop, SxSx3 uint8 RGB (a read-only view: copy before changing it)."""
        return self._images[index]

    def mask(self, index: int, region: str) -> np.ndarray:
        """One region mask, SxS float32 {0, 1}."""
        if region not in self._region_index:
            raise KeyError(f"region {region!r} is not in this cache; it has {', '.join(self.regions)}")
        bits = self._masks[index, self._region_index[region]]
        return np.unpackbits(bits, axis=-1, count=self.size).astype(np.float32)

    def masks(self, index: int) -> dict[str, np.ndarray]:
        """Every region mask of a face, by name."""
        bits = np.unpackbits(self._masks[index], axis=-1, count=self.size).astype(np.float32)
        return {name: bits[i] for i, name in enumerate(self.regions)}

    def histogram_masks(self, index: int) -> np.ndarray:
        """(4, S, S) float32 masks in `HISTOGRAM_REGIONS` order."""
        return np.stack([self.mask(index, name) for name in HISTOGRAM_REGIONS])

    def landmarks(self, index: int) -> np.ndarray | None:
        """(478, 2) FaceMesh points in crop pixels, or None where the masks came from a label map."""
        points = self._landmarks[index]
        return None if np.isnan(points).any() else points

    def indices(self, kinds: str | tuple[str, ...] | None = None) -> list[int]:
        """Indices of faces of the given kind(s) ("makeup", "non-makeup", "face"); all faces when None."""
        if kinds is None:
            return list(range(len(self)))
        wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        return [i for i, record in enumerate(self.records) if record.kind in wanted]
