"""Per-reader slots in compiled output: markers at compile time, a cheap join when filling."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True)
class SlotTemplate:
    """Compiled text split into literal chunks; `parts[i]` for i in `positions` is a slot name."""

    parts: tuple[str, ...]
    positions: tuple[tuple[int, str], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.positions)

    def fill(self, values: Mapping[str, str]) -> str:
        """Join the chunks with `values` in the slots (values must be escaped already)."""
        parts = list(self.parts)
        for index, name in self.positions:
            parts[index] = values[name]
        return "".join(parts)

    def literal_bytes(self) -> int:
        """UTF-8 size of everything but the slots."""
        slot_indexes = {i for i, _ in self.positions}
        return sum(len(p.encode()) for i, p in enumerate(self.parts) if i not in slot_indexes)

    def line_breaks(self) -> int:
        """Line ends outside the slots (slot values never hold one); an upper bound."""
        slot_indexes = {i for i, _ in self.positions}
        return sum(
            p.count("\n") + p.count("\r") for i, p in enumerate(self.parts) if i not in slot_indexes
        )

    def max_bytes(self, budgets: Mapping[str, int]) -> int:
        """Largest UTF-8 size after filling, given the largest size each slot may take."""
        return self.literal_bytes() + sum(budgets[name] for _, name in self.positions)


class SlotMarkers:
    """Makes slot markers for one compile; the random nonce keeps typed content from forging one."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        # Only [A-Za-z0-9_.] so the marker passes MJML and HTML escaping unchanged.
        self._pattern = re.compile(rf"YB{self.nonce}\.([a-z0-9_]+)\.")

    def __call__(self, name: str) -> Markup:
        if not re.fullmatch(r"[a-z0-9_]+", name):
            raise ValueError(f"bad slot name {name!r}")
        return Markup(f"YB{self.nonce}.{name}.")  # nosec B704: checked name, own nonce

    def split(self, text: str) -> SlotTemplate:
        pieces = self._pattern.split(text)
        # re.split with one group alternates literal, name, literal, ...
        positions = tuple((i, pieces[i]) for i in range(1, len(pieces), 2))
        return SlotTemplate(parts=tuple(pieces), positions=positions)
