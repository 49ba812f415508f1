"""Load any photo a user uploads as HxWx3 uint8 RGB, safely; save images atomically.

`load_image` never crashes on what a person can upload: it applies EXIF orientation, composites transparency over
white, converts grayscale, palette, CMYK and 16-bit images, and refuses non-images, truncated files, images too
large to decode (checked from the header, before decoding) and zero-sized or absurdly thin ones, each with a typed
`ImageError` that says what was wrong, which image (source/reference) it was and what to do.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from makeup.errors import InputImageError, image_name

DEFAULT_MAX_PIXELS = 50_000_000
# A face the detector can use needs dozens of pixels; a 20:1 strip is a banner or a broken file, not a portrait.
MIN_SIDE = 16
MAX_ASPECT = 20.0

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]


def _the(role: str | None) -> str:
    return image_name(role, capital=True)


class ImageError(InputImageError):
    """Base of every problem with an input image; `role` says which image ("source", "reference" or None)."""


class UnreadableImageError(ImageError):
    """Not an image, a format Pillow cannot read, a missing file, or a broken one."""


class TruncatedImageError(UnreadableImageError):
    """The file ends before the image data does (an interrupted upload or copy)."""


class ImageTooLargeError(ImageError):
    """More pixels than the configured limit (decompression bombs included)."""


class ImageSizeError(ImageError):
    """Zero-sized, too small to contain a face, or absurdly thin."""


def load_image(
    source: ImageSource,
    role: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """An HxWx3 uint8 RGB array (writable, C-contiguous) from a path, bytes, a file object, a PIL image or an array.

    role: "source" or "reference", named in error messages. max_pixels: larger images are refused from their
    header, before any pixel is decoded (a 17 KB PNG can decode to 144 megapixels).
    Raises UnreadableImageError, TruncatedImageError, ImageTooLargeError or ImageSizeError.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, role, max_pixels)
    if isinstance(source, Image.Image):
        _check_dimensions(source.width, source.height, role, max_pixels)
        _decode(source, role)
        return _pil_to_rgb(_upright(source, in_place=False), role)
    image = _open(source, role)
    try:
        _check_dimensions(image.width, image.height, role, max_pixels)
        _decode(image, role)
        return _pil_to_rgb(_upright(image, in_place=True), role)
    finally:
        image.close()


def _upright(image: Image.Image, in_place: bool) -> Image.Image:
    """The image turned as its EXIF orientation says (a no-op without one, and no copy when in place)."""
    try:
        transposed = ImageOps.exif_transpose(image, in_place=in_place)
    except Exception:  # a broken EXIF block should not make a readable photo unusable
        return image
    return image if transposed is None else transposed


def _open(source: ImageSource, role: str | None) -> Image.Image:
    """Open without decoding: Pillow reads only the header here."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise UnreadableImageError(f"{_the(role)} file '{source}' does not exist or is not a file.", role)
    try:
        with warnings.catch_warnings():
            # the pixel limit is ours (max_pixels), checked right after; Pillow's own warning would only be noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source)
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"{_the(role)} is far too large to decode safely ({error}).", role) from error
    except UnidentifiedImageError as error:
        raise UnreadableImageError(
            f"{_the(role)} is not an image file Pillow can read. Use a JPEG, PNG or WebP photo.", role
        ) from error
    except (OSError, ValueError, SyntaxError) as error:
        raise UnreadableImageError(f"{_the(role)} could not be read: {error}. Use another file.", role) from error


def _check_dimensions(width: int, height: int, role: str | None, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageSizeError(f"{_the(role)} is empty ({width}x{height} pixels). Use a real photo.", role)
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{_the(role)} is {width}x{height} = {width * height / 1e6:.0f} megapixels, more than the limit of "
            f"{max_pixels / 1e6:g} megapixels. Resize it, or raise the limit if you trust the file.",
            role,
        )
    if min(width, height) < MIN_SIDE:
        raise ImageSizeError(
            f"{_the(role)} is only {width}x{height} pixels, too small to show a face. Use a larger photo.", role
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageSizeError(
            f"{_the(role)} is {width}x{height} pixels, too thin to be a photo of a face. Use a normal photo.", role
        )


def _decode(image: Image.Image, role: str | None) -> None:
    try:
        image.load()
    except OSError as error:
        if "truncated" in str(error).lower():
            raise TruncatedImageError(
                f"{_the(role)} file is cut short (truncated): only part of it was uploaded or copied. "
                "Use the complete file.",
                role,
            ) from error
        raise UnreadableImageError(f"{_the(role)} is damaged and could not be decoded: {error}.", role) from error
    except Exception as error:  # decoders raise SyntaxError, ValueError, struct.error... on corrupt data
        raise UnreadableImageError(f"{_the(role)} is damaged and could not be decoded: {error}.", role) from error


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _pil_to_rgb(image: Image.Image, role: str | None) -> np.ndarray:
    if image.mode.startswith("I") or image.mode == "F":
        return _array_to_rgb(np.asarray(image), role, max_pixels=None)
    try:
        if _has_transparency(image):
            # transparent pixels carry arbitrary colours; white is what a viewer shows behind them
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        if image.mode != "RGB":
            image = image.convert("RGB")
    except (OSError, ValueError) as error:
        raise UnreadableImageError(
            f"{_the(role)} uses colour mode {image.mode}, which could not be converted to RGB ({error}).", role
        ) from error
    return np.array(image, dtype=np.uint8)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """8-bit levels from any numeric array: 16-bit and [0, 1] float data are rescaled, the rest clipped."""
    if values.dtype == np.uint8:
        return values
    if values.dtype == bool:
        return values.astype(np.uint8) * 255
    if values.dtype.kind == "f":
        finite = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if finite.size and finite.max() <= 1.0:
            finite = finite * 255.0
        return np.clip(np.rint(finite), 0, 255).astype(np.uint8)
    if (values.dtype.kind == "u" and values.dtype.itemsize == 2) or (values.size and values.max() > 255):
        # 16-bit data: 65535 is white; dividing by 257 maps 0..65535 onto 0..255 exactly
        return np.clip(np.rint(values.astype(np.float32) / 257.0), 0, 255).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def _array_to_rgb(array: np.ndarray, role: str | None, max_pixels: int | None) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UnreadableImageError(
            f"{_the(role)} array has shape {array.shape}; expected HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA).", role
        )
    if array.dtype.kind not in "uifb":
        raise UnreadableImageError(f"{_the(role)} array has dtype {array.dtype}; expected numbers.", role)
    if max_pixels is not None:
        _check_dimensions(array.shape[1], array.shape[0], role, max_pixels)
    levels = _to_uint8(array)
    if levels.ndim == 2:
        return np.repeat(levels[..., None], 3, axis=2)
    if levels.shape[2] == 4:
        alpha = levels[..., 3:].astype(np.float32) / 255.0
        levels = np.rint(levels[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    # never hand back the caller's own array: the pipeline may paste into the one it gets
    return levels.copy(order="C") if levels is array else np.ascontiguousarray(levels)


def save_image(image: np.ndarray, path: str | os.PathLike, quality: int = 95) -> Path:
    """Write an HxWx3 uint8 RGB image atomically: to a temporary file beside `path`, then renamed over it.

    An interrupted run never leaves a half-written file under the final name. The format follows the suffix
    (.png, .jpg/.jpeg, .webp, ...); `quality` applies to lossy formats.
    """
    path = Path(path)
    format_name = Image.registered_extensions().get(path.suffix.lower())
    if format_name is None:
        raise ValueError(f"cannot tell the image format from '{path.name}'; use a .png, .jpg or .webp name")
    options = {"quality": quality} if format_name in ("JPEG", "WEBP") else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            Image.fromarray(np.ascontiguousarray(image)).save(file, format=format_name, **options)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
