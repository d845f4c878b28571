"""The logo an admin uploads: checked by its content, re-encoded and sized for email.

Only the bytes we write are ever served: the upload is decoded by Pillow (PNG or JPEG, told by
the content and never by the file's name or declared type), scaled to at most twice the width
it is shown at, and written again, which drops metadata and anything hidden after the image.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from PIL import Image

LOGO_MAX_BYTES: Final = 200 * 1024
# Shown at most 240 × 80 CSS pixels in the masthead; stored at twice that for sharp screens.
SHOWN_MAX_WIDTH: Final = 240
SHOWN_MAX_HEIGHT: Final = 80
SCALE: Final = 2
# A 200 KB file can still claim to be enormous (a decompression bomb): refuse before decoding.
MAX_SOURCE_PIXELS: Final = 25_000_000
FORMATS: Final = {"PNG": "image/png", "JPEG": "image/jpeg"}


class LogoError(ValueError):
    """A logo the console cannot take; nothing was stored."""

    field = "logo"


class LogoTooLarge(LogoError):
    def __init__(self, size: int) -> None:
        super().__init__(f"the logo is {size} bytes; at most {LOGO_MAX_BYTES} are accepted")
        self.size = size
        self.limit = LOGO_MAX_BYTES


class LogoNotAnImage(LogoError):
    def __init__(self) -> None:
        super().__init__("the file is not a PNG or JPEG image")


class LogoTooManyPixels(LogoError):
    def __init__(self, width: int, height: int) -> None:
        super().__init__(f"the image is {width}×{height} pixels; too large to process")
        self.width = width
        self.height = height


@dataclass(frozen=True)
class ProcessedLogo:
    data: bytes
    content_type: str  # image/png | image/jpeg
    width: int  # of the stored file
    height: int
    sha256: str

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "jpg"


def shown_size(width: int, height: int) -> tuple[int, int]:
    """The size to show a stored logo at: half its pixels (it is stored at 2×), within
    240 × 80, never below 1."""
    scale = min(1 / SCALE, SHOWN_MAX_WIDTH / width, SHOWN_MAX_HEIGHT / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def process_logo(data: bytes) -> ProcessedLogo:
    """The logo re-encoded in its own format and scaled to fit 480 × 160 pixels; raises a
    LogoError subclass for anything else."""
    # Pillow is imported here, not with the module: a worker mails the stored logo and never
    # loads an image library for it.
    from PIL import Image, UnidentifiedImageError

    if len(data) > LOGO_MAX_BYTES:
        raise LogoTooLarge(len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
                kind = str(probe.format)
                width, height = probe.size
                if width * height > MAX_SOURCE_PIXELS:
                    raise LogoTooManyPixels(width, height)
                probe.verify()  # a truncated or corrupt file stops here
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as source:
                source.load()
                image = _scaled(source)
    except LogoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoNotAnImage from None
    out = io.BytesIO()
    if kind == "JPEG":
        image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    else:
        image.save(out, format="PNG", optimize=True)
    written = out.getvalue()
    return ProcessedLogo(
        data=written,
        content_type=FORMATS[kind],
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(written).hexdigest(),
    )


def _scaled(source: Image.Image) -> Image.Image:
    from PIL import Image

    image = source if source.mode in ("RGB", "RGBA", "L", "LA") else source.convert("RGBA")
    box = (SHOWN_MAX_WIDTH * SCALE, SHOWN_MAX_HEIGHT * SCALE)
    if image.width > box[0] or image.height > box[1]:
        image = image.copy()
        image.thumbnail(box, Image.Resampling.LANCZOS)
    # Only the pixels go on: a fresh image carries none of the upload's comments, EXIF (a
    # phone's GPS position) or text chunks, which Pillow would otherwise write out again.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean
