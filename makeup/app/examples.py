"""Example photos for the app's galleries; nothing under a non-commercial licence is ever written into the repo.

- Public-domain portraits that ship inside pip packages: scikit-image's astronaut and matplotlib's Grace Hopper
  (each offered when its package is installed), as sources, and the same faces wearing the synthetic renderer's
  presets as references (painted once and kept in a cache folder; needs mediapipe for the face regions).
- A folder of the user's faces: `$MAKEUP_EXAMPLE_FACES`, else `../shared/data/faces` beside the repository when
  it exists. A folder with the development faces' `manifest.csv` offers its bare faces as sources and its made-up
  ones as references; any other folder offers its images as both. Only image files inside the folder, after
  resolving links, are offered.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from makeup.io import save_image

log = logging.getLogger(__name__)

EXAMPLE_FACES_VARIABLE = "MAKEUP_EXAMPLE_FACES"
SHARED_FACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"
PRESET_LOOKS = ("classic-red", "smoky-eye", "berry-bold")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
MAX_PER_GALLERY = 8


@dataclass
class Examples:
    """File paths for the two galleries."""

    sources: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "makeup" / "examples"


def public_domain_portraits() -> dict[str, np.ndarray]:
    """The public-domain faces whose packages are installed, by name."""
    portraits = {}
    try:
        from skimage import data

        portraits["astronaut"] = np.ascontiguousarray(data.astronaut())
    except ImportError:
        pass
    try:
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
            portraits["grace-hopper"] = np.asarray(Image.open(handle).convert("RGB"))
    except ImportError:
        pass
    return portraits


def made_up(prepare: Callable, photo: np.ndarray, style) -> np.ndarray:
    """The photo with a synthetic look painted on its aligned face and pasted back at full resolution.

    `prepare` is `MakeupPipeline.prepare` (detects and aligns the face); needs mediapipe for the regions."""
    from makeup.face import paste_back
    from makeup.regions import masks_from_image
    from makeup.synth import render

    aligned = prepare(photo, "reference").aligned[0]
    painted = render(aligned.crop, masks_from_image(aligned.crop), style)
    return paste_back(photo, aligned, painted)


def portrait_examples(prepare: Callable, cache_dir: Path, with_looks: bool) -> Examples:
    """The public-domain portraits as sources and, with `with_looks`, wearing the presets as references."""
    from makeup.synth.style import preset

    examples = Examples()
    for name, photo in public_domain_portraits().items():
        path = cache_dir / f"{name}.png"
        if not path.is_file():
            save_image(photo, path)
        examples.sources.append(str(path))
        if not with_looks:
            continue
        for look in PRESET_LOOKS:
            path = cache_dir / f"{name}-{look}.png"
            if not path.is_file():
                try:
                    save_image(made_up(prepare, photo, preset(look)), path)
                except Exception:  # an example that cannot be painted is left out, never a reason not to start
                    log.warning("could not paint %s on %s; left out of the examples", look, name, exc_info=True)
                    continue
            examples.references.append(str(path))
    return examples


def folder_examples(folder: str | Path) -> Examples:
    """Images of `folder`, confined to it: bare faces as sources and made-up ones as references when its
    `manifest.csv` says which is which, else every image as both."""
    root = Path(folder).resolve()
    if not root.is_dir():
        return Examples()
    manifest = root / "manifest.csv"
    if manifest.is_file():
        sources, references = [], []
        with open(manifest, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                path = _confined(root, row.get("image", ""))
                if path is None:
                    continue
                if row.get("kind") == "non-makeup":
                    sources.append(path)
                elif row.get("kind") == "makeup":
                    references.append(path)
        return Examples(_spread(sources), _spread(references))
    images = sorted(str(p) for p in root.iterdir() if _confined(root, p.name))
    return Examples(images[:MAX_PER_GALLERY], images[:MAX_PER_GALLERY])


def gather_examples(prepare: Callable, with_looks: bool, cache_dir: Path | None = None,
                    environ: dict[str, str] | None = None) -> Examples:
    """Every example the app offers, public-domain portraits first."""
    environ = os.environ if environ is None else environ
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    examples = portrait_examples(prepare, cache_dir, with_looks)
    folder = environ.get(EXAMPLE_FACES_VARIABLE) or (SHARED_FACES if SHARED_FACES.is_dir() else None)
    if folder:
        extra = folder_examples(folder)
        examples.sources += extra.sources
        examples.references += extra.references
    return examples


def _confined(root: Path, relative: str) -> str | None:
    """`root / relative` when it is an image file inside `root` after resolving links, else None."""
    if not relative:
        return None
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
        return None
    return str(path)


def _spread(paths: list[str]) -> list[str]:
    """At most MAX_PER_GALLERY paths, taken evenly across the list (so every sub-folder shows up)."""
    if len(paths) <= MAX_PER_GALLERY:
        return paths
    step = len(paths) / MAX_PER_GALLERY
    return [paths[int(i * step)] for i in range(MAX_PER_GALLERY)]
