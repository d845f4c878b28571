"""The compiled-variant cache keeps the most recently used few."""

from __future__ import annotations

from emails.cache import Recent


def test_the_least_recently_used_goes_first() -> None:
    made: list[str] = []

    def make(key: str) -> str:
        made.append(key)
        return key.upper()

    cache: Recent[str, str] = Recent(2)
    assert cache.get("a", lambda: make("a")) == "A"
    cache.get("b", lambda: make("b"))
    cache.get("a", lambda: make("a"))  # used again: now the most recent
    cache.get("c", lambda: make("c"))  # drops b, not a
    cache.get("a", lambda: make("a"))
    cache.get("b", lambda: make("b"))  # made again
    assert made == ["a", "b", "c", "b"]
    assert len(cache) == 2
