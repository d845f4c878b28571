"""Message catalogues: extraction and compilation, used by `make` and the tests."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

PACKAGE_DIR = Path(__file__).resolve().parent
TRANSLATIONS_DIR = PACKAGE_DIR / "translations"
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None,
}
METHOD_MAP = [("**.py", "python"), ("templates/**.html", "jinja2")]


def extract_message_ids() -> set[str]:
    """Every message id the code and templates ask to translate."""
    ids: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE_DIR), method_map=METHOD_MAP, keywords=KEYWORDS
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def read_catalog(locale: str) -> Catalog:
    with open(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=locale)


def compile_catalogs() -> None:
    """Write each locale's messages.mo next to its messages.po when the .po is newer."""
    for po_path in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        catalog = read_catalog(po_path.parent.parent.name)
        tmp = mo_path.with_suffix(".mo.tmp")
        with open(tmp, "wb") as handle:
            write_mo(handle, catalog)
        tmp.replace(mo_path)


if __name__ == "__main__":
    compile_catalogs()
