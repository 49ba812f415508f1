"""load_image on every kind of file a person can upload, built here from real photos; save_image's atomic write."""

from __future__ import annotations

import io
import struct
import zlib
import cv2
import numpy as np
import pytest
from PIL import Image

from makeup.io import (
    ImageError,
    ImageSizeError,
    ImageTooLargeError,
    TruncatedImageError,
    UnreadableImageError,
    load_image,
    save_image,
)


def encode(image: Image.Image | np.ndarray, format_name: str, **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def grayscale_png(width: int, height: int, image_data: bytes | None = None) -> bytes:
    """A valid 8-bit grayscale PNG of zeros, streamed so a huge one costs little memory; or any IDAT payload."""
    if image_data is None:
        compressor = zlib.compressobj(9)
        row = bytes(width + 1)  # filter byte 0, then the pixels
        image_data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", image_data) + png_chunk(b"IEND", b"")


def test_rgb_from_every_kind_of_source(tmp_path, astronaut):
    png = encode(astronaut, "PNG")
    path = tmp_path / "astronaut.png"
    path.write_bytes(png)
    for source in (path, str(path), png, bytearray(png), io.BytesIO(png), Image.fromarray(astronaut), astronaut):
        loaded = load_image(source)
        assert loaded.dtype == np.uint8 and loaded.shape == astronaut.shape
        assert loaded.flags.writeable and loaded.flags.c_contiguous
        np.testing.assert_array_equal(loaded, astronaut)
    assert load_image(astronaut) is not astronaut  # the caller's array is never handed back to be pasted into


def test_rgba_is_composited_over_white(astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:, :256, 3] = 0
    rgba[:, :256, :3] = 0  # colour under transparent pixels is arbitrary: here black
    for source in (encode(rgba, "PNG"), rgba):
        loaded = load_image(source)
        assert (loaded[:, :256] == 255).all()
        np.testing.assert_array_equal(loaded[:, 256:], astronaut[:, 256:])


def test_half_transparent_gray_and_palette_images(astronaut):
    gray = Image.fromarray(astronaut).convert("L")
    la = Image.merge("LA", [gray, Image.new("L", gray.size, 128)])
    loaded = load_image(encode(la, "PNG"))
    expected = np.rint(np.asarray(gray, np.float32) * 128 / 255 + 255 * 127 / 255)
    assert np.abs(loaded[..., 0].astype(np.float32) - expected).max() <= 1
    palette = Image.fromarray(astronaut).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    loaded = load_image(encode(palette, "PNG", transparency=0))
    transparent = np.asarray(palette) == 0
    assert transparent.any() and (loaded[transparent] == 255).all()
    web_palette = Image.fromarray(astronaut).convert("P")
    np.testing.assert_array_equal(load_image(encode(web_palette, "GIF")), np.asarray(web_palette.convert("RGB")))


def test_grayscale_becomes_three_equal_channels(astronaut):
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    for source in (encode(gray, "PNG"), gray, gray[..., None], encode(Image.fromarray(gray).convert("1"), "PNG")):
        loaded = load_image(source)
        assert loaded.shape == (*gray.shape, 3)
        assert (loaded[..., 0] == loaded[..., 1]).all() and (loaded[..., 1] == loaded[..., 2]).all()
    np.testing.assert_array_equal(load_image(gray)[..., 0], gray)


def test_cmyk_jpeg_converts_to_the_right_colours(astronaut):
    cmyk = Image.fromarray(astronaut).convert("CMYK")
    loaded = load_image(encode(cmyk, "JPEG", quality=95))
    assert loaded.shape == astronaut.shape
    assert np.abs(loaded.astype(np.int16) - astronaut).mean() < 6


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path, astronaut):
    deep = astronaut.astype(np.uint16) * 257  # the same picture with 16-bit levels
    rgb_path = tmp_path / "deep.png"
    cv2.imwrite(str(rgb_path), deep[..., ::-1])
    np.testing.assert_array_equal(load_image(rgb_path), astronaut)
    gray = deep[..., 1]
    gray_png = encode(Image.fromarray(gray), "PNG")
    assert Image.open(io.BytesIO(gray_png)).mode.startswith("I")
    np.testing.assert_array_equal(load_image(gray_png)[..., 0], astronaut[..., 1])
    np.testing.assert_array_equal(load_image(gray)[..., 0], astronaut[..., 1])
    np.testing.assert_array_equal(load_image(astronaut.astype(np.float32) / 255), astronaut)


def test_exif_orientation_is_applied(grace_hopper):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    loaded = load_image(encode(grace_hopper, "JPEG", quality=95, exif=exif))
    upright = np.rot90(grace_hopper, k=-1)
    assert loaded.shape == upright.shape != grace_hopper.shape
    assert np.abs(loaded.astype(np.int16) - upright).mean() < 4
    on_disk_as_is = load_image(encode(grace_hopper, "JPEG", quality=95))
    assert on_disk_as_is.shape == grace_hopper.shape


@pytest.mark.parametrize(
    "payload",
    [b"", b"hello, this is text", b"%PDF-1.4\n" + bytes(200), b"\x89PNG\r\n\x1a\n" + bytes(50)],
    ids=["empty", "text", "pdf", "png-signature-only"],
)
def test_not_an_image_is_unreadable(payload):
    with pytest.raises(UnreadableImageError, match="source image"):
        load_image(payload, role="source")


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImageError, match="does not exist") as caught:
        load_image(tmp_path / "nowhere.jpg", role="reference")
    assert caught.value.role == "reference"
    with pytest.raises(UnreadableImageError):
        load_image(tmp_path)  # a folder


@pytest.mark.parametrize("format_name", ["JPEG", "PNG"])
def test_truncated_file_has_its_own_error(astronaut, format_name):
    data = encode(astronaut, format_name)
    with pytest.raises(TruncatedImageError, match="reference image.*truncated"):
        load_image(data[: len(data) // 2], role="reference")


def test_decompression_bomb_is_refused_from_its_header():
    bomb = grayscale_png(12_000, 12_000)  # 144 megapixels of zeros
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLargeError, match="144 megapixels"):
        load_image(bomb)
    # the same header over garbage pixel data: refused as too large, so the check ran before decoding
    with pytest.raises(ImageTooLargeError):
        load_image(grayscale_png(12_000, 12_000, image_data=b"not zlib at all"))
    far_beyond_pillow = grayscale_png(40_000, 40_000, image_data=b"x")  # past Pillow's own bomb limit
    with pytest.raises(ImageTooLargeError):
        load_image(far_beyond_pillow)


def test_pixel_limit_is_configurable(grace_hopper):
    data = encode(grace_hopper, "PNG")
    with pytest.raises(ImageTooLargeError, match="source image"):
        load_image(data, role="source", max_pixels=100_000)
    with pytest.raises(ImageTooLargeError):
        load_image(grace_hopper, max_pixels=100_000)
    assert load_image(data, max_pixels=grace_hopper.shape[0] * grace_hopper.shape[1]).shape == grace_hopper.shape


@pytest.mark.parametrize("shape", [(0, 64, 3), (64, 0, 3), (8, 8, 3), (2000, 40, 3), (30, 1000, 3)])
def test_zero_sized_tiny_and_thin_arrays_are_refused(shape):
    with pytest.raises(ImageSizeError):
        load_image(np.zeros(shape, np.uint8))


def test_thin_and_tiny_files_are_refused():
    with pytest.raises(ImageSizeError, match="too thin"):
        load_image(encode(np.zeros((40, 4000, 3), np.uint8), "PNG"))
    with pytest.raises(ImageSizeError, match="too small"):
        load_image(encode(np.zeros((12, 12, 3), np.uint8), "PNG"))
    with pytest.raises(ImageError):  # a PNG header claiming zero width
        load_image(grayscale_png(0, 100, image_data=b""))


def test_bad_arrays_are_refused():
    with pytest.raises(UnreadableImageError, match="shape"):
        load_image(np.zeros((64, 64, 5), np.uint8))
    with pytest.raises(UnreadableImageError, match="dtype"):
        load_image(np.zeros((64, 64, 3), dtype=object))


def test_errors_are_value_errors_with_a_role():
    with pytest.raises(ValueError) as caught:
        load_image(b"junk", role="source")
    assert isinstance(caught.value, ImageError) and caught.value.role == "source"
    assert str(caught.value).startswith("The source image")


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.webp"])
def test_save_image_round_trips_and_leaves_no_temporary_file(tmp_path, astronaut, name):
    path = save_image(astronaut, tmp_path / "nested" / name)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == [name]
    loaded = load_image(path)
    tolerance = 0 if name.endswith(".png") else 8
    assert np.abs(loaded.astype(np.int16) - astronaut).mean() <= tolerance


def test_failed_save_keeps_the_old_file_and_leaves_no_partial(tmp_path, astronaut):
    path = save_image(astronaut, tmp_path / "out.png")
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_image(np.zeros((4, 4, 7), np.uint8), path)  # Pillow cannot encode 7 channels
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    with pytest.raises(ValueError, match="format"):
        save_image(astronaut, tmp_path / "out.unknown")


def test_saved_file_is_never_seen_half_written(tmp_path, astronaut, monkeypatch):
    """Readers of the final name see the old complete file or the new complete file, nothing in between."""
    import os

    path = tmp_path / "result.png"
    save_image(np.zeros_like(astronaut), path)
    real_replace = os.replace
    seen = []

    def checking_replace(source, destination):
        seen.append(int(load_image(destination).max()))  # the complete old image until the very swap
        seen.append(np.abs(load_image(source).astype(np.int16) - astronaut).max())  # the new one, complete
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", checking_replace)
    save_image(astronaut, path)
    assert seen == [0, 0]
    np.testing.assert_array_equal(load_image(path), astronaut)


def test_photo_errors_share_one_base_that_names_the_photo():
    from makeup.errors import InputImageError
    from makeup.face import NoFaceError

    with pytest.raises(InputImageError) as caught:
        load_image(b"these bytes are not an image", role="reference")
    assert caught.value.role == "reference" and "The reference image" in str(caught.value)
    no_face = NoFaceError("source")
    assert isinstance(no_face, InputImageError) and "the source image" in str(no_face)
