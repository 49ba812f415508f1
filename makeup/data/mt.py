"""Read a folder in the MT (Makeup Transfer) dataset's layout as a face source for the datasets.

    ROOT/images/makeup/*.png      ROOT/segs/makeup/*.png       (same file names)
    ROOT/images/non-makeup/*.png  ROOT/segs/non-makeup/*.png
    ROOT/makeup.txt, ROOT/non-makeup.txt  (optional: one path relative to images/ per line, e.g. makeup/a.png)

Images are already framed like the aligned crops (the canonical template was derived from MT crops), so they
are only resized. Label maps are converted with `makeup.regions.masks_from_labels` ("mt14" by default,
"bisenet19" for CelebAMask-HQ-style parsing such as SSAT's).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from makeup.regions import LABEL_CONVENTIONS, histogram_masks, masks_from_labels

_KINDS = ("makeup", "non-makeup")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class MTFormatError(ValueError):
    """A folder is not in the MT dataset's layout, or one of its files cannot be read."""


@dataclass
class MTRecord:
    """One MT image: its path relative to images/, kind and identity (the file name: MT has no person labels)."""

    id: str
    image: str
    kind: str
    identity: str


class MTFaces:
    """An MT-format folder with the same reading interface as `FaceCache` (image, masks, records, size).

    Files are read on demand; the last `cache_items` decoded faces are kept in memory.
    """

    def __init__(self, root: str | Path, size: int = 256, convention: str = "mt14", cache_items: int = 512):
        self.root = Path(root)
        if convention not in LABEL_CONVENTIONS:
            raise MTFormatError(f"unknown label convention {convention!r}: use one of {', '.join(LABEL_CONVENTIONS)}")
        if not (self.root / "images").is_dir() or not (self.root / "segs").is_dir():
            raise MTFormatError(
                f"{self.root} is not an MT-format folder: it needs images/{{makeup,non-makeup}} and "
                "segs/{makeup,non-makeup} (the MT dataset's layout)"
            )
        self.size = int(size)
        self.convention = convention
        self.records: list[MTRecord] = []
        for kind in _KINDS:
            for relative in self._list(kind):
                if not (self.root / "segs" / relative).is_file():
                    raise MTFormatError(f"{self.root / 'images' / relative} has no label map at segs/{relative}")
                self.records.append(MTRecord(id=relative, image=relative, kind=kind, identity=relative))
        if not self.records:
            raise MTFormatError(f"no images found under {self.root / 'images'}")
        self._load = lru_cache(maxsize=cache_items)(self._read)

    def _list(self, kind: str) -> list[str]:
        listing = self.root / f"{kind}.txt"
        if listing.is_file():
            lines = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
            for line in lines:
                if Path(line).is_absolute() or ".." in Path(line).parts:
                    raise MTFormatError(f"{listing}: {line!r} must be a path relative to images/")
            return lines
        folder = self.root / "images" / kind
        if not folder.is_dir():
            return []
        return [f"{kind}/{p.name}" for p in sorted(folder.iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES]

    def __len__(self) -> int:
        return len(self.records)

    def image(self, index: int) -> np.ndarray:
        """The face resized to size x size, uint8 RGB."""
        return self._load(index)[0]

    def masks(self, index: int) -> dict[str, np.ndarray]:
        """Every region (`makeup.regions.REGIONS`) from the face's label map."""
        return self._load(index)[1]

    def histogram_masks(self, index: int) -> np.ndarray:
        return histogram_masks(self.masks(index))

    def indices(self, kinds: str | tuple[str, ...] | None = None) -> list[int]:
        if kinds is None:
            return list(range(len(self)))
        wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        return [i for i, record in enumerate(self.records) if record.kind in wanted]

    def _read(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        relative = self.records[index].image
        image = cv2.imread(str(self.root / "images" / relative), cv2.IMREAD_COLOR)
        labels = cv2.imread(str(self.root / "segs" / relative), cv2.IMREAD_GRAYSCALE)
        if image is None or labels is None:
            raise MTFormatError(f"cannot read images/{relative} or segs/{relative} under {self.root}")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if image.shape[:2] != (self.size, self.size):
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return image, masks_from_labels(labels, self.convention, (self.size, self.size))
