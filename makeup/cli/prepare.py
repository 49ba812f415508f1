"""`makeup prepare`: detect, align and mask face photos into a compact cache that training reads with numpy alone."""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Aligned crops this alike are the same photo, lightly re-edited, so one identity: the correlation of 32 px grey
# thumbnails and their mean colour difference (0-255). Re-edits of one MT photo, even aligned a few pixels apart,
# score above 0.96 and below 9; different people framed alike by the alignment stay below 0.92 or above 15.
DUPLICATE_CORRELATION = 0.95
DUPLICATE_COLOUR_DIFFERENCE = 12.0


class PrepareError(ValueError):
    """Nothing to prepare: a missing folder, no images, or no usable face in any of them."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="align faces and compute region masks into a training cache",
        description="Detect and align every face photo under the given folders, compute its region masks with "
        "FaceMesh and write a compact cache (faces.npz + meta.json) that training reads with numpy alone. "
        "A folder with a manifest.csv (image, kind, licence, source columns) is read through it; otherwise every "
        "image below it is used, its kind taken from a parent folder named makeup or non-makeup.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--faces", nargs="+", metavar="DIR", help="folders of face photos")
    source.add_argument("--mt", metavar="ROOT", help="an MT-format dataset (images/, segs/): its crops and label maps "
                        "are used as they are, so neither MTCNN nor mediapipe is needed")
    parser.add_argument("--labels", default="mt14", choices=("mt14", "bisenet19"),
                        help="label convention of the --mt segs/ maps (default mt14)")
    parser.add_argument("-o", "--output", required=True, metavar="CACHE", help="cache folder to write")
    parser.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many photos (for quick tries)")
    parser.set_defaults(func=run)


@dataclass
class Photo:
    """One input photo and what its folder says about it."""

    path: Path
    name: str
    kind: str
    licence: str = ""
    source: str = ""


def find_photos(folders: list[str | Path]) -> list[Photo]:
    """The photos under each folder, through its manifest.csv when it has one."""
    photos: list[Photo] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise PrepareError(f"--faces {folder}: no such folder")
        manifest = folder / "manifest.csv"
        if manifest.is_file():
            with open(manifest, newline="") as handle:
                for row in csv.DictReader(handle):
                    photos.append(
                        Photo(folder / row["image"], f"{folder.name}/{row['image']}", row.get("kind") or "face",
                              row.get("licence", ""), row.get("source", ""))
                    )
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and "mask" not in path.parent.name and path.parent.name != "segs":
                parents = {p.name for p in path.relative_to(folder).parents}
                kind = "non-makeup" if "non-makeup" in parents else "makeup" if "makeup" in parents else "face"
                photos.append(Photo(path, f"{folder.name}/{path.relative_to(folder).as_posix()}", kind))
    return photos


def prepare_cache(folders: list[str | Path], output: str | Path, size: int = 256, limit: int | None = None,
                  progress: bool = True) -> tuple[Path, int, list[dict]]:
    """Build a cache from the photos under `folders`; returns (cache folder, faces written, skipped photos)."""
    import numpy as np
    from tqdm import tqdm

    from makeup.data.cache import FaceRecord, pack_masks, write_cache
    from makeup.regions import LANDMARK_COUNT, RegionError, detect_landmarks, masks_from_landmarks

    photos = find_photos(folders)[:limit]
    if not photos:
        raise PrepareError(f"no images found under {', '.join(map(str, folders))}")
    skippable = _image_errors() + (RegionError,)
    crops, masks, landmarks, records, skipped = [], [], [], [], []
    for photo in tqdm(photos, desc="prepare", unit="face", disable=not progress, file=sys.stderr):
        try:
            crop, transform = align_photo(photo.path, size)
            points = detect_landmarks(crop)
        except skippable as error:
            skipped.append({"image": photo.name, "reason": str(error)})
            continue
        region_masks = masks_from_landmarks(points, crop.shape[:2])
        crops.append(crop)
        masks.append(pack_masks(region_masks))
        landmarks.append(points[:LANDMARK_COUNT])
        records.append(FaceRecord(id=photo.name, image=photo.name, kind=photo.kind, identity=photo.name,
                                  licence=photo.licence, source=photo.source, transform=transform))
    if not records:
        reasons = "; ".join(f"{item['image']}: {item['reason']}" for item in skipped[:3])
        raise PrepareError(f"none of the {len(photos)} photos gave a usable face ({reasons})")
    images = np.stack(crops)
    for group in duplicate_groups(images):
        for index in group[1:]:
            records[index].identity = records[group[0]].identity
    root = write_cache(output, images, np.stack(masks), np.stack(landmarks), records, skipped)
    return root, len(records), skipped


def _image_errors() -> tuple[type[Exception], ...]:
    """What an unusable photo raises: a bad or unreadable file, or no usable face in it."""
    errors: tuple[type[Exception], ...] = (ValueError, OSError)
    try:
        from makeup.io import ImageError
    except ImportError:
        return errors
    return errors + (ImageError,)


def align_photo(path: Path, size: int, min_face: int = 64) -> tuple["np.ndarray", list[list[float]]]:
    """Read a photo, find its largest face and return (size x size aligned RGB crop, 2x3 original->crop matrix)."""
    from makeup.face import align_face, detect_faces, select_face

    image = read_photo(path)
    face = select_face(detect_faces(image), min_size=min_face)
    aligned = align_face(image, face.landmarks, size=size)
    return aligned.crop, [[float(v) for v in row] for row in aligned.matrix]


def read_photo(path: Path) -> "np.ndarray":
    """An RGB uint8 photo, through makeup.io's safe loader when it is installed."""
    try:
        from makeup.io import load_image
    except ImportError:
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path} is not a readable image") from None
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return load_image(path)


def duplicate_groups(images) -> list[list[int]]:
    """Groups of indices whose crops are near-identical (the same photo re-edited): they share one identity."""
    import cv2
    import numpy as np

    greys, colours = [], []
    for image in images:
        thumbnail = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(thumbnail, cv2.COLOR_RGB2GRAY).astype(np.float32).ravel()
        greys.append((grey - grey.mean()) / (grey.std() + 1e-6))
        colours.append(thumbnail.astype(np.float32))
    greys = np.stack(greys)
    similarity = np.triu(greys @ greys.T / greys.shape[1], 1)
    pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(similarity > DUPLICATE_CORRELATION))
             if np.abs(colours[i] - colours[j]).mean() < DUPLICATE_COLOUR_DIFFERENCE]
    parent = list(range(len(images)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(images)):
        groups.setdefault(root(i), []).append(i)
    return [sorted(group) for group in groups.values() if len(group) > 1]


def prepare_mt_cache(root: str | Path, output: str | Path, size: int = 256, convention: str = "mt14",
                     limit: int | None = None, progress: bool = True) -> tuple[Path, int, list[dict]]:
    """Build a cache from an MT-format dataset with its own label maps (no detection, no FaceMesh)."""
    import numpy as np
    from tqdm import tqdm

    from makeup.data.cache import FaceRecord, pack_masks, write_cache
    from makeup.data.mt import MTFaces, MTFormatError
    from makeup.regions import LANDMARK_COUNT, REGIONS

    faces = MTFaces(root, size=size, convention=convention, cache_items=1)
    count = min(len(faces), limit) if limit is not None else len(faces)
    images = np.zeros((count, size, size, 3), np.uint8)
    masks = np.zeros((count, len(REGIONS), size, (size + 7) // 8), np.uint8)
    kept, records, skipped = [], [], []
    for index in tqdm(range(count), desc="prepare", unit="face", disable=not progress, file=sys.stderr):
        record = faces.records[index]
        try:
            images[len(kept)] = faces.image(index)
            region_masks = faces.masks(index)
        except MTFormatError as error:
            skipped.append({"image": record.image, "reason": str(error)})
            continue
        masks[len(kept)] = pack_masks(region_masks)
        kept.append(index)
        records.append(FaceRecord(id=record.id, image=record.image, kind=record.kind, identity=record.identity,
                                  licence="MT dataset terms", masks_from=convention,
                                  transform=[[size / 361.0, 0.0, 0.0], [0.0, size / 361.0, 0.0]]))
    if not records:
        raise PrepareError(f"no readable image in {root}")
    landmarks = np.full((len(kept), LANDMARK_COUNT, 2), np.nan, np.float32)
    root_path = write_cache(output, images[: len(kept)], masks[: len(kept)], landmarks, records, skipped)
    return root_path, len(records), skipped


def run(args: argparse.Namespace) -> int:
    from makeup.data.mt import MTFormatError

    try:
        if args.mt:
            root, count, skipped = prepare_mt_cache(args.mt, args.output, size=args.size, convention=args.labels,
                                                    limit=args.limit)
        else:
            root, count, skipped = prepare_cache(args.faces, args.output, size=args.size, limit=args.limit)
    except (PrepareError, MTFormatError) as error:
        print(f"makeup prepare: {error}", file=sys.stderr)
        return 1
    size_mb = sum(path.stat().st_size for path in root.iterdir() if path.is_file()) / 1e6
    print(f"wrote {count} faces at {args.size} px to {root} ({size_mb:.1f} MB)")
    if skipped:
        print(f"skipped {len(skipped)}:")
        for item in skipped:
            print(f"  {item['image']}: {item['reason']}")
    return 0
