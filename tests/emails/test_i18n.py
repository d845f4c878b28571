from __future__ import annotations

import string
from datetime import date

import pytest

from emails.i18n import CATALOGUE, format_date, format_month, strings


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_exactly_the_same_keys() -> None:
    assert set(CATALOGUE) == {"zh-CN", "en"}
    assert set(CATALOGUE["zh-CN"]) == set(CATALOGUE["en"])


@pytest.mark.parametrize("language", sorted(CATALOGUE))
def test_no_empty_values(language: str) -> None:
    empty = [key for key, value in CATALOGUE[language].items() if not value.strip()]
    assert empty == []


def test_translations_use_the_same_placeholders() -> None:
    zh, en = CATALOGUE["zh-CN"], CATALOGUE["en"]
    differing = [k for k in zh if _placeholders(zh[k]) != _placeholders(en[k])]
    assert differing == []


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="fr"):
        strings("fr")


def test_dates_and_months_in_both_languages() -> None:
    assert format_month("2024-07", "zh-CN") == "2024年7月"
    assert format_month("2024-07", "en") == "July 2024"
    assert format_date(date(2024, 7, 5), "zh-CN") == "2024年7月5日"
    assert format_date(date(2024, 7, 5), "en") == "5 July 2024"
