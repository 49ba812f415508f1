"""Stage 1 of the transfer: load a photo, find its faces, cut the aligned crops (`PreparedImage`).

A prepared image also keeps what later stages learn about its crops (FaceMesh landmarks, region masks, the
example lips' reference part), so that a prepared reference reused from `ReferenceCache` carries all of it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from makeup.face import AlignedFace, Face, FaceDetector, align_face, check_face
from makeup.face.errors import FaceError, NoFaceError
from makeup.io import ImageSource, load_image


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


@dataclass
class PreparedImage:
    """A photo analysed once: its full-resolution pixels, the faces to use (largest first) and their crops.

    `timings` holds the milliseconds its own stages took (load, detect, align); a reference served from the
    cache says 0 for each. Never change `image` in place: a cached reference serves many requests."""

    image: np.ndarray
    role: str
    faces: list[Face]
    aligned: list[AlignedFace]
    timings: dict[str, float] = field(default_factory=dict)
    _memo: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    @property
    def face(self) -> Face:
        return self.faces[0]

    @property
    def crop(self) -> np.ndarray:
        return self.aligned[0].crop

    def crop_landmarks(self, index: int = 0) -> np.ndarray:
        """The 478 FaceMesh landmarks of aligned crop `index` (crop pixels), found once (needs mediapipe).

        Raises FaceError naming this image when FaceMesh finds no face in the crop."""

        def find() -> np.ndarray:
            from makeup.regions import RegionError, detect_landmarks

            try:
                return detect_landmarks(self.aligned[index].crop)
            except RegionError as error:
                raise FaceError(f"The face regions of the {self.role} image could not be found: {error}",
                                self.role) from error

        return self.memo("landmarks", index, find)

    def crop_masks(self, index: int = 0) -> dict[str, np.ndarray]:
        """The `makeup.regions` masks of aligned crop `index`, from its landmarks, computed once."""
        from makeup.regions import masks_from_landmarks

        return self.memo("masks", index,
                         lambda: masks_from_landmarks(self.crop_landmarks(index), self.aligned[index].crop.shape[:2]))

    def memo(self, what: str, index: int, compute) -> Any:
        """`compute()` the first time (`what`, crop `index`) is asked for, the same value after."""
        key = (what, index)
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


def prepare_image(image: ImageSource, detector: FaceDetector, role: str, crop_size: int, max_pixels: int,
                  min_face_size: int, min_confidence: float, all_faces: bool = False) -> PreparedImage:
    """Load `image`, find its face (every acceptable face with all_faces) and cut the aligned crops.

    Raises the typed errors of makeup.io and makeup.face, naming `role`."""
    start = time.perf_counter()
    pixels = load_image(image, role=role, max_pixels=max_pixels)
    timings = {"load": elapsed_ms(start)}
    start = time.perf_counter()
    if all_faces:
        faces = detector.detect(pixels)
    else:  # a cheaper search that stops at the large faces when there are any
        largest = detector.largest_face(pixels)
        faces = [largest] if largest else []
    timings["detect"] = elapsed_ms(start)
    if not faces:
        raise NoFaceError(role)
    check_face(faces[0], role=role, min_size=min_face_size, min_score=min_confidence)
    faces = [face for face in faces if face.size >= min_face_size and face.score >= min_confidence]
    start = time.perf_counter()
    aligned = [align_face(pixels, face.landmarks, size=crop_size) for face in faces]
    timings["align"] = elapsed_ms(start)
    return PreparedImage(image=pixels, role=role, faces=faces, aligned=aligned, timings=timings)


class ReferenceCache:
    """Prepared references by content, most recently used kept: the same reference photo again (another
    request, the next frame of a video) skips decoding, detection, alignment, FaceMesh and its masks.

    The key is a digest of the file's bytes (paths, bytes, file objects) or of the pixels (arrays, PIL images),
    with the settings that shape the crop; the photo is still read, never trusted by its name alone."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, PreparedImage] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str | None) -> PreparedImage | None:
        if key is None or self.capacity <= 0:
            return None
        with self._lock:
            prepared = self._entries.get(key)
            if prepared is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return prepared

    def put(self, key: str | None, prepared: PreparedImage) -> None:
        if key is None or self.capacity <= 0:
            return
        with self._lock:
            self._entries[key] = prepared
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def content_key(image: ImageSource, settings: tuple) -> str | None:
    """A digest of what `image` holds (None for a source it cannot read without consuming, such as a stream)."""
    digest = hashlib.blake2b(repr(settings).encode(), digest_size=16)
    if isinstance(image, (str, os.PathLike)):
        try:
            with open(image, "rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return None  # load_image reports it with its own message
    elif isinstance(image, (bytes, bytearray, memoryview)):
        digest.update(image)
    elif isinstance(image, np.ndarray):
        digest.update(repr((image.shape, image.dtype.str)).encode())
        digest.update(np.ascontiguousarray(image).data)
    elif isinstance(image, Image.Image):
        digest.update(repr((image.size, image.mode, image.getexif().get(0x0112))).encode())  # with its rotation
        digest.update(image.tobytes())
    else:
        return None
    return digest.hexdigest()
