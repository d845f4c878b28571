"""WCAG 2.x contrast of the palette's colour pairs, computed as the standard says."""

from __future__ import annotations

import pytest

from emails.branding import (
    AA_NORMAL,
    Palette,
    contrast_pairs,
    contrast_ratio,
    normalize_colour,
    relative_luminance,
)


def test_black_on_white_is_21_and_a_colour_on_itself_is_1() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#1f2d44", "#1f2d44") == pytest.approx(1.0)


def test_the_order_of_the_two_colours_does_not_matter() -> None:
    assert contrast_ratio("#a7803f", "#ffffff") == contrast_ratio("#ffffff", "#a7803f")


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [
        # Published reference values (WebAIM's contrast checker).
        ("#777777", "#ffffff", 4.48),
        ("#767676", "#ffffff", 4.54),
        ("#0000ff", "#ffffff", 8.59),
        ("#ff0000", "#ffffff", 4.00),
        # The measurements of the old email: gold "read more" on white.
        ("#a7803f", "#ffffff", 3.62),
    ],
)
def test_ratios_match_the_published_values(first: str, second: str, ratio: float) -> None:
    assert contrast_ratio(first, second) == pytest.approx(ratio, abs=0.01)


def test_luminance_uses_the_srgb_curve_below_and_above_its_knee() -> None:
    assert relative_luminance("#000000") == 0
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    # 0x0a / 255 = 0.0392 is below 0.04045: divided by 12.92, not raised to 2.4.
    assert relative_luminance("#0a0a0a") == pytest.approx((10 / 255) / 12.92)


def test_every_text_pair_of_the_default_palette_passes_aa() -> None:
    pairs = contrast_pairs(Palette())
    assert {p.name for p in pairs} == {
        "primary/background", "primary/page", "on_primary/primary",
        "accent/background", "accent/page", "on_primary/accent",
    }
    assert all(p.ratio >= AA_NORMAL for p in pairs), [(p.name, p.ratio) for p in pairs]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("#1F2D44", "#1f2d44"), (" #abc ", "#aabbcc"), ("1f2d44", None), ("#12345", None),
     ("red", None), ("#gggggg", None), ("", None)],
)
def test_colours_are_read_as_hex_only(value: str, expected: str | None) -> None:
    assert normalize_colour(value) == expected


@pytest.mark.parametrize("primary", ["#1f2d44", "#3a6ea5", "#0b5d3b", "#6b2d5c"])
def test_the_mastheads_small_text_stays_legible_on_any_primary_that_passes(primary: str) -> None:
    """The firm's name and the month sit on the primary in fixed tints; a lighter primary an
    admin may choose (it passes against white) would leave them at 2–3:1, so they give way
    to the primary's own text colour there, and keep their tints on the default navy."""
    palette = Palette(primary=primary)
    assert contrast_ratio(palette.on_primary, palette.primary) >= AA_NORMAL
    for tint in (palette.masthead_eyebrow, palette.masthead_subtitle):
        assert contrast_ratio(tint, palette.primary) >= AA_NORMAL, (primary, tint)
    if primary == "#1f2d44":
        assert (palette.masthead_eyebrow, palette.masthead_subtitle) == ("#c9aa70", "#c5ccd8")
    if primary == "#3a6ea5":
        assert palette.masthead_eyebrow == palette.on_primary
