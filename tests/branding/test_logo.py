"""A logo is taken only as a small PNG or JPEG, told by its content, and re-encoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from webapp.branding import (
    LOGO_MAX_BYTES,
    LogoNotAnImage,
    LogoTooLarge,
    LogoTooManyPixels,
    process_logo,
)
from webapp.branding.logo import shown_size


def image_bytes(size: tuple[int, int], kind: str = "PNG", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (31, 45, 68)).save(out, format=kind, **save)
    return out.getvalue()


def test_a_wide_png_is_scaled_to_twice_the_shown_width_and_stays_png() -> None:
    logo = process_logo(image_bytes((1200, 300)))
    assert (logo.width, logo.height) == (480, 120)
    assert logo.content_type == "image/png" and logo.extension == "png"
    with Image.open(io.BytesIO(logo.data)) as written:
        assert written.format == "PNG" and written.size == (480, 120)
    assert shown_size(logo.width, logo.height) == (240, 60)


def test_a_tall_logo_fits_the_height_too() -> None:
    logo = process_logo(image_bytes((400, 800), "JPEG"))
    assert (logo.width, logo.height) == (80, 160)
    assert logo.content_type == "image/jpeg"
    assert shown_size(logo.width, logo.height) == (40, 80)


def test_a_small_logo_is_kept_at_its_size_and_shown_at_half() -> None:
    logo = process_logo(image_bytes((200, 60)))
    assert (logo.width, logo.height) == (200, 60)
    assert shown_size(200, 60) == (100, 30)


def test_what_is_stored_is_our_encoding_not_the_upload() -> None:
    upload = image_bytes((300, 100), "JPEG", comment=b"GPS and camera") + b"<script>x</script>"
    logo = process_logo(upload)
    assert logo.data != upload
    assert b"<script>" not in logo.data and b"GPS" not in logo.data
    assert len(logo.sha256) == 64


def test_a_file_over_200_kb_is_refused_before_it_is_read() -> None:
    with pytest.raises(LogoTooLarge) as refused:
        process_logo(b"\x89PNG\r\n\x1a\n" + b"\0" * LOGO_MAX_BYTES)
    assert refused.value.size == LOGO_MAX_BYTES + 8


@pytest.mark.parametrize(
    "upload",
    [
        b"just some text, named logo.png",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        # A GIF, and an HTML page that starts like a PNG: the name or the first bytes decide
        # nothing.
        image_bytes((10, 10), "GIF"),
        b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
        # A real PNG cut short.
        image_bytes((300, 300))[:200],
    ],
    ids=["text", "svg", "gif", "html-with-png-signature", "truncated-png"],
)
def test_anything_but_a_whole_png_or_jpeg_is_refused(upload: bytes) -> None:
    with pytest.raises(LogoNotAnImage):
        process_logo(upload)


def test_a_small_file_claiming_huge_dimensions_is_refused_unprocessed() -> None:
    # 6000 × 6000 of one colour compresses to a few KB: a decompression bomb in small.
    upload = image_bytes((6000, 6000))
    assert len(upload) < LOGO_MAX_BYTES
    with pytest.raises(LogoTooManyPixels):
        process_logo(upload)
