"""The one palette of yuebao: emails, their web version and the public pages.

Colours are named by the part they paint, not by hue, so that branding can replace them; every
text colour is paired with the backgrounds it is drawn on (`TEXT_PAIRS`) and each pair must
reach WCAG AA contrast, checked by `contrast_ratio` in the tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final


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


LIGHT: Final = Palette(
    paper="#f3f1ec",
    surface="#ffffff",
    ink="#2d2d2d",
    heading="#1f2d44",
    muted="#6b665c",
    link="#1f2d44",
    primary="#1f2d44",
    on_primary="#ffffff",
    masthead="#1f2d44",
    on_masthead="#ffffff",
    masthead_eyebrow="#c9aa70",
    masthead_subtitle="#c5ccd8",
    accent="#a7803f",
    accent_text="#7a5a22",
    line="#e8e4da",
    tint="#f7f5f0",
    commentary="#f7f2e8",
)

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


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a `#rrggbb` colour."""
    text = colour.removeprefix("#")
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    r, g, b = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2's contrast ratio, from 1 (none) to 21 (black on white)."""
    lighter, darker = sorted(
        (relative_luminance(foreground), relative_luminance(background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def css_variables(palette: Palette) -> str:
    """`--yb-<role>: <colour>;` for every role, for the public pages' stylesheet."""
    return " ".join(
        f"--yb-{name.replace('_', '-')}: {value};" for name, value in asdict(palette).items()
    )
