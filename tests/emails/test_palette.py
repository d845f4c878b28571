"""The one palette: every text colour against every background it is drawn on, by WCAG's
formula, and no colour written anywhere else."""

from __future__ import annotations

import re
from dataclasses import asdict, replace

import pytest
from flask.testing import FlaskClient

from emails.branding import Palette as BrandPalette
from emails.palette import (
    DARK,
    LIGHT,
    TEXT_PAIRS,
    Palette,
    branded,
    contrast_ratio,
    relative_luminance,
)
from tests.emails.conftest import ROOT
from webapp.branding.service import STYLESHEET_PATH

HEX = re.compile(r"(?<!&)#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")  # not &#847; entities


def test_the_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#ffffff", "#777777") == contrast_ratio("#777777", "#ffffff")
    with pytest.raises(ValueError):
        relative_luminance("red")


@pytest.mark.parametrize("palette", [LIGHT, DARK], ids=["light", "dark"])
@pytest.mark.parametrize(("text", "background", "minimum"), TEXT_PAIRS)
def test_every_text_colour_is_legible_on_its_backgrounds(
    palette: Palette, text: str, background: str, minimum: float
) -> None:
    ratio = contrast_ratio(getattr(palette, text), getattr(palette, background))
    assert ratio >= minimum, f"{text} on {background}: {ratio:.2f}"


def test_the_colours_the_emails_had_fail_the_check() -> None:
    """The grey of the date/source line and the gold of "本期目录" the emails used to have."""
    old = replace(LIGHT, muted="#8b8576", accent_text="#a7803f")
    assert contrast_ratio(old.muted, old.surface) < 4.5
    assert contrast_ratio(old.accent_text, old.tint) < 4.5


def test_every_role_is_paired_with_a_background() -> None:
    drawn = {text for text, _, _ in TEXT_PAIRS} | {bg for _, bg, _ in TEXT_PAIRS}
    decorative = {"accent", "line"}  # rules and borders, never text
    assert set(asdict(LIGHT)) - drawn == decorative


def test_the_email_templates_take_every_colour_from_the_palette() -> None:
    for template in (ROOT / "emails" / "templates").glob("*.mjml"):
        assert HEX.findall(template.read_text(encoding="utf-8")) == [], template.name


def test_the_public_pages_are_painted_with_the_same_palette(client: FlaskClient) -> None:
    css = client.get(STYLESHEET_PATH)
    assert css.status_code == 200 and css.mimetype == "text/css"
    for role, colour in asdict(LIGHT).items():
        assert f"--yb-{role.replace('_', '-')}: {colour};" in css.text
    page = client.get("/").text
    assert f'href="{STYLESHEET_PATH}"' in page
    stylesheet = (ROOT / "webapp" / "static" / "css" / "app.css").read_text(encoding="utf-8")
    root = stylesheet[stylesheet.index(":root") : stylesheet.index("}")]
    for variable in ("--ink", "--muted", "--bg", "--card", "--accent", "--accent-ink"):
        assert re.search(rf"{variable}: var\(--yb-[a-z-]+\);", root), variable


def test_the_brand_s_colours_take_their_roles() -> None:
    brand = BrandPalette(primary="#0b3d2e", accent="#7a3e00", background="#fffdf8", page="#eeeeee")
    mine = branded(LIGHT, brand)
    assert (mine.primary, mine.heading, mine.link, mine.masthead) == ("#0b3d2e",) * 4
    assert (mine.accent_text, mine.surface, mine.paper) == ("#7a3e00", "#fffdf8", "#eeeeee")
    assert mine.accent == LIGHT.accent  # rules keep the palette's gold
    assert mine.muted == LIGHT.muted and mine.ink == LIGHT.ink
