from __future__ import annotations

from babel.messages.catalog import Catalog

from webapp.i18n import extract_message_ids, read_catalog


def _translated(catalog: Catalog) -> dict[str, str]:
    found: dict[str, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        value = message.string if isinstance(message.string, str) else message.string[0]
        if value:
            found[key] = value
    return found


def test_every_message_has_a_chinese_translation() -> None:
    translated = _translated(read_catalog("zh"))
    missing = sorted(extract_message_ids() - translated.keys())
    assert missing == [], f"untranslated (run `make messages` and fill in the .po): {missing}"


def test_translations_keep_their_placeholders() -> None:
    catalog = read_catalog("zh")
    for message in catalog:
        if not message.id or not message.string:
            continue
        errors = list(message.check(catalog))
        assert errors == [], f"{message.id!r}: {errors}"
