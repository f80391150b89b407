"""Image loading: every Pillow mode scaled by its bit depth, and decompression bombs refused unread."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polymodal.data.loading import MAX_IMAGE_PIXELS, UnreadableFile, check_pixel_limit, load_audio, load_image

GRADIENT = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG from raw scanlines (filter byte 0 on each), written by hand: Pillow cannot write 16-bit RGB."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "g16.png"
    Image.fromarray(GRADIENT).save(path)
    assert Image.open(path).mode == "I;16"
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (64, 64)
    np.testing.assert_array_equal(out, np.rint(GRADIENT / 257.0).astype(np.uint8))
    assert (out == 255).mean() < 0.01  # was 99.6% when clipped


def test_16_bit_rgb_png_is_scaled(tmp_path: Path) -> None:
    rgb = np.stack([GRADIENT, GRADIENT[::-1], np.full_like(GRADIENT, 32768)], axis=-1)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb)
    path = tmp_path / "rgb16.png"
    path.write_bytes(png_bytes(64, 64, 16, 2, rows))
    out = load_image(path)
    assert out.shape == (64, 64, 3)
    np.testing.assert_allclose(out.astype(int), rgb / 257.0, atol=1)


@pytest.mark.parametrize("transparency", [False, True])
def test_palette_png_with_and_without_transparency(tmp_path: Path, transparency: bool) -> None:
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putdata([0, 1] * 4)
    path = tmp_path / "p.png"
    img.save(path, transparency=0) if transparency else img.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow warns when a palette with transparency goes straight to RGB
        out = load_image(path)
    assert out.shape == (2, 4, 3)
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [0, 0, 255]


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_becomes_rgb(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"c.{fmt.lower()}"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, fmt)  # pure red in CMYK
    out = load_image(path)
    assert out.shape == (8, 8, 3)
    red, green, blue = out[..., 0].mean(), out[..., 1].mean(), out[..., 2].mean()
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize(("mode", "colour", "expected"),
                         [("RGBA", (10, 20, 30, 0), [10, 20, 30]), ("LA", (100, 7), 100)])
def test_alpha_is_dropped(tmp_path: Path, mode: str, colour: tuple[int, ...], expected: object) -> None:
    path = tmp_path / "a.png"
    Image.new(mode, (3, 3), colour).save(path)
    out = load_image(path)
    assert out[0, 0].tolist() == expected


def test_32_bit_integer_and_float_images(tmp_path: Path) -> None:
    as_int = tmp_path / "i.tif"
    Image.fromarray(GRADIENT.astype(np.int32)).save(as_int)
    assert Image.open(as_int).mode == "I"
    np.testing.assert_array_equal(load_image(as_int), np.rint(GRADIENT / 257.0).astype(np.uint8))
    wide = tmp_path / "wide.tif"
    Image.fromarray((GRADIENT.astype(np.int32) - 40000) * 1000).save(wide)  # beyond 16 bits: its own range
    out = load_image(wide)
    assert out.min() == 0 and out.max() == 255
    unit = tmp_path / "f.tif"
    Image.fromarray((GRADIENT / 65535.0).astype(np.float32)).save(unit)
    assert Image.open(unit).mode == "F"
    np.testing.assert_allclose(load_image(unit).astype(int), GRADIENT / 257.0, atol=1)
    bad = tmp_path / "nan.tif"
    Image.fromarray(np.full((4, 4), np.nan, np.float32)).save(bad)
    with pytest.raises(UnreadableFile, match="the image holds NaN or infinite pixels"):
        load_image(bad)


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bytes(30000, 30000, 1, 0, b""))  # declares 900 megapixels in a few hundred bytes
    assert bomb.stat().st_size < 400
    with pytest.raises(UnreadableFile, match=r"the image declares too many pixels to decode safely"):
        load_image(bomb)


def test_an_image_over_the_limit_is_not_decoded(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("P", (12000, 12000)).save(big)  # 144 megapixels in 17 KB: over Pillow's warning threshold too
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning escapes: our own limit speaks
        with pytest.raises(UnreadableFile, match=r"^the image declares 12000 x 12000 pixels \(144.0 megapixels\)"):
            load_image(big)
    Image.new("P", (12000, 5000)).save(big)  # 60 megapixels, a few kilobytes
    with pytest.raises(UnreadableFile, match=r"^the image declares 12000 x 5000 pixels \(60.0 megapixels\), over "
                                             r"the limit of 50 megapixels; it was not decoded \(raise the image "
                                             r"option max_image_pixels if the file is genuine\)$"):
        load_image(big)
    assert MAX_IMAGE_PIXELS == 50_000_000
    small = tmp_path / "small.png"
    Image.new("L", (100, 100)).save(small)
    with pytest.raises(UnreadableFile, match=r"over the limit of 0.009999 megapixels"):
        load_image(small, max_pixels=9_999)
    assert load_image(small, max_pixels=10_000).shape == (100, 100)


@pytest.mark.parametrize("value", [0, -1, 2.5, "10", True])
def test_pixel_limit_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(ValueError, match="max_image_pixels must be a positive whole number of pixels"):
        check_pixel_limit(value)


def test_media_paths_resolve_against_a_remote_table_and_the_data_root_holds_for_urls() -> None:
    from polymodal.data.loading import resolve_path

    assert resolve_path("img/a.png", "s3://bucket/data") == "s3://bucket/data/img/a.png"
    assert resolve_path("../img/a.png", "s3://bucket/data") == "s3://bucket/img/a.png"
    assert resolve_path("https://host/x/../a.wav", Path("/tables")) == "https://host/a.wav"
    assert resolve_path("/abs/a.png", "s3://bucket/data") == Path("/abs/a.png")  # an absolute path stays local
    assert resolve_path("img/a.png", "s3://bucket/data", Path("s3://bucket")) == "s3://bucket/data/img/a.png"
    with pytest.raises(PermissionError, match=r"^path '\.\./\.\./other/a\.png' resolves to s3://bucket/other/a\.png, "
                                              r"outside the data root s3:/bucket/data$"):
        resolve_path("../../other/a.png", "s3://bucket/data/t", Path("s3://bucket/data"))
    with pytest.raises(PermissionError, match=r"resolves to https://host/a\.png, outside the data root /data$"):
        resolve_path("https://host/a.png", Path("/data"), Path("/data"))


def test_images_and_audio_decode_from_bytes_as_from_files(tmp_path: Path) -> None:
    from tests.hf_media import image_pixels, png_bytes, wav_bytes

    (tmp_path / "a.png").write_bytes(png_bytes(3))
    (tmp_path / "a.wav").write_bytes(wav_bytes(3))
    assert np.array_equal(load_image(png_bytes(3)), load_image(tmp_path / "a.png"))
    assert np.array_equal(load_image(png_bytes(3)), image_pixels(3))
    samples, rate = load_audio(wav_bytes(3))
    assert rate == 8000 and np.array_equal(samples, load_audio(tmp_path / "a.wav")[0])
    with pytest.raises(UnreadableFile, match=r"^truncated WAV: the header promises 100 more bytes of audio$"):
        load_audio(wav_bytes(3)[:-100])
