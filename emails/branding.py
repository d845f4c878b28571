"""The firm's look in every email: its palette, its logo, and the WCAG contrast they must keep.

The console sets these (webapp.branding); the defaults below are what a fresh install shows.
Every colour here is `#rrggbb`, checked before it is stored, so templates can use it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

HEX_COLOUR: Final = re.compile(r"^#[0-9a-f]{6}$")
# WCAG 2.x level AA for normal text.
AA_NORMAL: Final = 4.5

WHITE: Final = "#ffffff"
# The page around the email's white body (and the public pages' muted background).
PAPER: Final = "#f3f1ec"
# The masthead's small text on the primary colour: the firm's name above the title, and the
# month under it, in these tints while they stay legible on the primary.
MASTHEAD_EYEBROW: Final = "#c9aa70"
MASTHEAD_SUBTITLE: Final = "#c5ccd8"


def legible_on(colour: str, background: str, fallback: str) -> str:
    """`colour` where it reads at WCAG AA on `background`, else `fallback` (which does)."""
    return colour if contrast_ratio(colour, background) >= AA_NORMAL else fallback


@dataclass(frozen=True)
class Palette:
    """Colours by role: `primary` for the masthead, headings and buttons; `accent` for the
    rule under the masthead, section marks, "read more" and the commentary label."""

    primary: str = "#1f2d44"
    accent: str = "#82602a"
    on_primary: str = WHITE  # text on a primary background (buttons, masthead)
    background: str = WHITE  # the email body and the public pages' cards
    page: str = PAPER

    @property
    def masthead_eyebrow(self) -> str:
        """The tints of the masthead's small text hold on the default navy; on a lighter
        primary an admin chose they give way to the text colour of the primary."""
        return legible_on(MASTHEAD_EYEBROW, self.primary, self.on_primary)

    @property
    def masthead_subtitle(self) -> str:
        return legible_on(MASTHEAD_SUBTITLE, self.primary, self.on_primary)


@dataclass(frozen=True)
class Logo:
    """The firm's logo as the email shows it: an absolute URL on our own domain, and the size
    to show it at (the file is twice as wide, for sharp screens)."""

    url: str
    width: int
    height: int


@dataclass(frozen=True)
class ContrastPair:
    """Two colours one reads against the other, and which roles they play."""

    name: str  # e.g. "primary/background"
    foreground: str
    background: str

    @property
    def ratio(self) -> float:
        return contrast_ratio(self.foreground, self.background)


def normalize_colour(value: str) -> str | None:
    """`#RGB` or `#RRGGBB` (any case, surrounding space allowed) as `#rrggbb`; None otherwise."""
    text = value.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        text = "#" + "".join(c * 2 for c in text[1:])
    return text if HEX_COLOUR.match(text) else None


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of `#rrggbb`."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.x contrast ratio, from 1 (same) to 21 (black on white); order does not matter."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def contrast_pairs(palette: Palette) -> tuple[ContrastPair, ...]:
    """Every pair of the palette that carries text: the brand colours as text on the body and
    on the page around it, and the text on a primary (or accent) button."""
    return (
        ContrastPair("primary/background", palette.primary, palette.background),
        ContrastPair("primary/page", palette.primary, palette.page),
        ContrastPair("on_primary/primary", palette.on_primary, palette.primary),
        ContrastPair("accent/background", palette.accent, palette.background),
        ContrastPair("accent/page", palette.accent, palette.page),
        ContrastPair("on_primary/accent", palette.on_primary, palette.accent),
    )
