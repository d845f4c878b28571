"""The one palette of yuebao: emails, their web version and the public pages.

Colours are named by the part they paint, not by hue. The brand's colours (primary, accent,
background, page: emails.branding, set by admins) fill their roles; the neutrals around them
(body text, muted text, hairlines, boxes) and the dark palette are fixed here. Every text
colour is paired with the backgrounds it is drawn on (`TEXT_PAIRS`) and each pair must reach
WCAG AA contrast, checked by `contrast_ratio` in the tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Final

from emails.branding import (
    MASTHEAD_EYEBROW,
    MASTHEAD_SUBTITLE,
    contrast_ratio,
    relative_luminance,
)
from emails.branding import Palette as BrandPalette

__all__ = [  # the WCAG formulas are the branding's, re-exported: one definition
    "DARK",
    "LIGHT",
    "TEXT_PAIRS",
    "Palette",
    "branded",
    "contrast_ratio",
    "css_variables",
    "relative_luminance",
]


@dataclass(frozen=True)
class Palette:
    paper: str  # the page behind the email, and behind the masthead's top link and footer
    surface: str  # the email's body
    ink: str  # body text
    heading: str  # section and item headings, item titles
    muted: str  # date/source lines, the top link, the footer
    link: str  # links in running text and the table of contents
    primary: str  # buttons
    on_primary: str  # text on `primary`
    masthead: str  # the masthead's background
    on_masthead: str  # the masthead's title
    masthead_eyebrow: str  # the firm's name above the title
    masthead_subtitle: str  # the month under the title
    accent: str  # rules and borders only: never text
    accent_text: str  # gold text: labels, "read more", the table of contents' heading
    line: str  # hairlines between items
    tint: str  # the table of contents' box
    commentary: str  # the commentary box


def branded(palette: Palette, brand: BrandPalette) -> Palette:
    """`palette` with the brand's colours in their roles (the templates read the brand's
    `palette` directly; this is the same mapping, for the public pages and the tests). The
    brand's accent colours text; rules keep the palette's own gold."""
    return replace(
        palette,
        paper=brand.page,
        surface=brand.background,
        heading=brand.primary,
        link=brand.primary,
        primary=brand.primary,
        on_primary=brand.on_primary,
        masthead=brand.primary,
        on_masthead=brand.on_primary,
        masthead_eyebrow=brand.masthead_eyebrow,
        masthead_subtitle=brand.masthead_subtitle,
        accent_text=brand.accent,
    )


NEUTRALS: Final = Palette(
    paper="",
    surface="",
    ink="#2d2d2d",
    heading="",
    muted="#6b665c",
    link="",
    primary="",
    on_primary="",
    masthead="",
    on_masthead="",
    masthead_eyebrow=MASTHEAD_EYEBROW,
    masthead_subtitle=MASTHEAD_SUBTITLE,
    # Rules and frames stay this gold whatever the brand: under a client's forced darkening the
    # brand's darker, text-strength accent fades to 2.7:1 against the body; this one keeps 3:1.
    accent="#a7803f",
    accent_text="",
    line="#e8e4da",
    tint="#f7f5f0",
    commentary="#f7f2e8",
)
LIGHT: Final = branded(NEUTRALS, BrandPalette())  # a fresh install's look

# What clients that honour `prefers-color-scheme` (Apple Mail, iOS Mail, Outlook for Mac,
# Outlook.com through its data-ogsc/data-ogsb attributes) show in dark mode. The masthead
# keeps its navy, framed by gold rules, and buttons turn gold so neither sinks into the page.
DARK: Final = Palette(
    paper="#121417",
    surface="#1b1e23",
    ink="#e6e3dc",
    heading="#f0e6d2",
    muted="#a8a396",
    link="#d9b77a",
    primary="#d9b77a",
    on_primary="#1b1e23",
    masthead="#1f2d44",
    on_masthead="#ffffff",
    masthead_eyebrow="#d9b77a",
    masthead_subtitle="#c5ccd8",
    accent="#a7803f",
    accent_text="#d9b77a",
    line="#343840",
    tint="#23262c",
    commentary="#26231d",
)

# (text, background, minimum ratio): every pair a template draws. Large text (the masthead
# title, section headings) would pass at 3:1; every pair here is held to 4.5:1 anyway.
TEXT_PAIRS: Final = (
    ("ink", "surface", 4.5),
    ("heading", "surface", 4.5),
    ("muted", "surface", 4.5),
    ("muted", "paper", 4.5),
    ("muted", "tint", 4.5),
    ("link", "surface", 4.5),
    ("link", "paper", 4.5),
    ("link", "tint", 4.5),
    ("heading", "tint", 4.5),
    ("accent_text", "surface", 4.5),
    ("accent_text", "tint", 4.5),
    ("accent_text", "commentary", 4.5),
    ("ink", "commentary", 4.5),
    ("on_primary", "primary", 4.5),
    ("on_masthead", "masthead", 4.5),
    ("masthead_eyebrow", "masthead", 4.5),
    ("masthead_subtitle", "masthead", 4.5),
)


def css_variables(palette: Palette) -> str:
    """`--yb-<role>: <colour>;` for every role, for the public pages' stylesheet."""
    return " ".join(
        f"--yb-{name.replace('_', '-')}: {value};" for name, value in asdict(palette).items()
    )
