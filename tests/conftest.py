"""Shared fixtures. Real faces come from packages (public domain) or from ../shared/data/faces when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    """The non-commercial development faces (never copied into the repo); skips when they are absent."""
    if not (SHARED_FACES / "manifest.csv").is_file():
        pytest.skip(f"shared face data not found at {SHARED_FACES} (only present on development and CI machines)")
    return SHARED_FACES


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A public-domain portrait (512x512 RGB) that ships with scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """A public-domain portrait (RGB) that ships with matplotlib."""
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))
