"""What the cells of a readers' CSV may say, as an admin would write them: topics by name or
short name, languages by their usual names, addresses checked quickly; and the attestation of
how the readers of a list agreed to receive the report."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from email_validator import validate_email

from webapp.models import Topic

DEFAULT_LANGUAGE = "zh-CN"

# Keys are compared case-folded, with `_` read as `-` (zh_CN, en_US as locales write them).
_LANGUAGE_ALIASES = {
    **dict.fromkeys(
        ("zh", "zh-cn", "zh-hans", "zh-hans-cn", "cn", "chinese", "中文", "简体中文", "简体",
         "汉语", "普通话"),
        "zh-CN",
    ),
    **dict.fromkeys(("en", "en-us", "en-gb", "english", "英文", "英语"), "en"),
}

# What separates topics in a cell: the ASCII ones and the full-width ones a Chinese keyboard
# types (、 is the enumeration comma). A `,` needs the cell quoted, as CSV always does.
TOPIC_SEPARATORS = re.compile(r"[;,|、；，｜]")


def language_of(cell: str) -> str | None:
    """The language a cell names (empty: the default), or None when it names none we have."""
    value = cell.strip()
    if not value:
        return DEFAULT_LANGUAGE
    return _LANGUAGE_ALIASES.get(value.casefold().replace("_", "-"))


class TopicRef(NamedTuple):
    """A topic as a row names it: plain values, read 100,000 times (an ORM attribute is slow)."""

    slug: str
    retired: bool


class TopicIndex:
    """Every topic by short name, Chinese name and English name (case-folded)."""

    def __init__(self, topics: list[Topic]) -> None:
        self.topics = sorted(topics, key=lambda t: (t.position, t.id or 0))
        self._by_key: dict[str, TopicRef] = {}
        # Names first, then short names over them: a short name is unique, a name may not be.
        for topic in self.topics:
            for name in (topic.name_en, topic.name_zh):
                if name.strip():
                    self._by_key.setdefault(name.strip().casefold(),
                                            TopicRef(topic.slug, topic.retired))
        for topic in self.topics:
            self._by_key[topic.slug.casefold()] = TopicRef(topic.slug, topic.retired)
        self.active_slugs = tuple(t.slug for t in self.topics if not t.retired)

    def find(self, value: str) -> TopicRef | None:
        return self._by_key.get(value.strip().casefold())

    def by_slug(self) -> dict[str, Topic]:
        return {t.slug: t for t in self.topics}


def topic_values(cell: str) -> list[str]:
    """The topics a cell names, in order, without repeats or blanks."""
    return list(dict.fromkeys(v.strip() for v in TOPIC_SEPARATORS.split(cell) if v.strip()))


# A dot-atom local part (RFC 5322) of ASCII characters: always valid, and kept as written by
# email_validator. Only the domain then needs the validator, once per domain: a list of 100,000
# readers has a few hundred domains, and the validator costs ~40 µs an address.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str:
    return validate_email(f"a@{domain}", check_deliverability=False).domain


def normalized_address(address: str) -> str:
    """The address as email_validator normalises it; raises EmailNotValidError."""
    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and len(address) <= 254 and _DOT_ATOM.fullmatch(local):
        return f"{local}@{_domain(domain)}"
    return str(validate_email(address, check_deliverability=False).normalized)


class ConsentBasis(enum.StrEnum):
    """How the readers of an imported list agreed to receive the report."""

    ASKED = "asked"  # they asked to subscribe (a form, an email)
    CLIENTS = "clients"  # existing clients who agreed in writing
    OTHER = "other"  # said in the note


MAX_ATTESTATION_NOTE = 500


class AttestationMissing(ValueError):
    """An import must say how its readers agreed to receive the report."""

    field = "consent_basis"


class AttestationNoteMissing(ValueError):
    """`other` needs the admin's own words."""

    field = "consent_note"


@dataclass(frozen=True)
class Attestation:
    """The admin's statement of how the readers of a list agreed, kept with each reader's
    consent record."""

    basis: ConsentBasis
    note: str = ""

    @classmethod
    def of(cls, basis: str | None, note: str | None) -> Attestation:
        """Raises AttestationMissing or AttestationNoteMissing."""
        try:
            chosen = ConsentBasis((basis or "").strip())
        except ValueError:
            raise AttestationMissing("say how the readers agreed to receive the report") from None
        text = (note or "").strip()[:MAX_ATTESTATION_NOTE]
        if chosen == ConsentBasis.OTHER and not text:
            raise AttestationNoteMissing("describe how the readers agreed")
        return cls(chosen, text)

    def as_fields(self) -> dict[str, Any]:
        return {"basis": self.basis.value, "note": self.note}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Attestation:
        return cls.of(fields.get("basis"), fields.get("note"))
