"""Product pictures: what is taken, what is refused, and what is kept of a photo
(bulkbuy.services.pictures). Real pictures made by Pillow in memory."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from bulkbuy.services import ServiceError, pictures


def picture_bytes(fmt: str = "PNG", size=(800, 600), colour=(200, 40, 40), **save) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" and save.pop("alpha", False) else "RGB"
    Image.new(mode, size, colour + ((128,) if mode == "RGBA" else ())).save(out, fmt, **save)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def refusal(data: bytes, **limits) -> str:
    with pytest.raises(ServiceError) as refused:
        pictures.make_picture(data, **limits)
    assert refused.value.field == "picture"
    return refused.value.message


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width × height pixels (a "decompression bomb")."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_a_jpeg_png_webp_or_gif_is_made_a_small_webp(fmt):
    small = pictures.make_picture(picture_bytes(fmt, size=(1600, 1200)))

    image = opened(small)
    assert image.format == "WEBP"
    assert image.size == (pictures.LONGEST_SIDE, pictures.LONGEST_SIDE * 3 // 4)
    assert len(small) < 10_000


def test_a_photo_is_a_few_kilobytes_so_the_tablet_page_stays_light():
    # A noisy photo-like picture: the hardest case for the size.
    noisy = Image.effect_noise((2000, 1500), 60).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=92)

    small = pictures.make_picture(out.getvalue())

    assert len(small) < 15_000, len(small)
    assert max(opened(small).size) == pictures.LONGEST_SIDE


def test_a_small_picture_is_not_made_bigger():
    assert opened(pictures.make_picture(picture_bytes(size=(64, 40)))).size == (64, 40)


def test_a_transparent_png_keeps_its_transparency():
    assert opened(pictures.make_picture(picture_bytes("PNG", alpha=True))).mode == "RGBA"


def test_a_photo_is_turned_the_way_its_exif_says_and_its_exif_is_not_kept():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned: show it rotated 90°
    exif[0x010F] = "Camera maker"
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS: where it was taken
    photo = picture_bytes("JPEG", size=(800, 400), exif=exif.tobytes())
    assert opened(photo).getexif()[0x0112] == 6

    small = opened(pictures.make_picture(photo))

    assert small.size == (pictures.LONGEST_SIDE // 2, pictures.LONGEST_SIDE)  # now upright
    assert not small.getexif()
    assert "exif" not in small.info and "icc_profile" not in small.info


def test_the_stored_name_is_the_pictures_hash_and_the_same_picture_is_one_file(tmp_path):
    data = picture_bytes()

    name = pictures.store_picture(data, tmp_path)
    again = pictures.store_picture(data, tmp_path)
    other = pictures.store_picture(picture_bytes(colour=(10, 200, 10)), tmp_path)

    assert name == again != other
    assert pictures.is_picture_name(name) and pictures.is_picture_name(other)
    assert sorted(os.listdir(tmp_path)) == sorted([name, other])  # no temporary left
    assert opened((tmp_path / name).read_bytes()).format == "WEBP"


def test_a_text_file_named_png_is_refused_and_nothing_is_stored(tmp_path):
    folder = tmp_path / "pictures"
    with pytest.raises(ServiceError) as refused:
        pictures.store_picture(b"name,unit\nRice,1kg\n" * 10, folder)
    assert "not a picture" in refused.value.message
    assert not folder.exists() or not os.listdir(folder)


@pytest.mark.parametrize("svg", [
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'  <!DOCTYPE svg><svg onload="alert(1)"></svg>',
])
def test_svg_is_always_refused(svg):
    assert "SVG" in refusal(svg)


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read():
    data = picture_bytes("PNG", size=(50, 50))
    assert "smaller than 1 MB" in refusal(data + b"\x00" * 1_000_001, max_bytes=1_000_000)
    assert "smaller than 5 MB" in refusal(b"\x00" * (pictures.DEFAULT_MAX_BYTES + 1))


def test_a_picture_claiming_too_many_pixels_is_refused_before_it_is_decoded():
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 200

    assert "too many pixels" in refusal(bomb)


def test_a_picture_just_over_the_pixel_limit_is_refused():
    assert "too many pixels" in refusal(png_claiming(8000, 5001))


def test_a_cut_short_or_broken_picture_is_refused():
    whole = picture_bytes("JPEG", size=(400, 300))
    assert "not a picture" in refusal(whole[: len(whole) // 3])
    assert "not a picture" in refusal(picture_bytes("PNG")[:60])
    assert "not a picture" in refusal(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)


def test_an_empty_file_is_refused():
    assert "Choose a picture" in refusal(b"")


def test_other_image_formats_are_refused():
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, "BMP")
    assert "not a picture" in refusal(out.getvalue())
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, "TIFF")
    assert "not a picture" in refusal(out.getvalue())


@pytest.mark.parametrize("name", [
    "", "../secret_key", "0123456789abcdef0123.png", "0123456789ABCDEF0123.webp",
    "0123456789abcdef012.webp", "0123456789abcdef0123.webp/", "0123456789abcdef0123.webp\n",
    "..%2F0123456789abcdef.webp",
])
def test_only_a_hash_and_webp_is_a_picture_name(name):
    assert not pictures.is_picture_name(name)
    assert pictures.is_picture_name("0123456789abcdef0123.webp")
