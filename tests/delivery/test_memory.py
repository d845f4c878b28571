"""The worker limits malloc arenas unless the environment already chose."""

from __future__ import annotations

import ctypes.util

import pytest

from webapp.delivery.memory import limit_malloc_arenas


def test_glibc_arenas_are_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    if ctypes.util.find_library("c") is None:
        pytest.skip("no C library to ask")  # pragma: no cover - Linux images have one
    assert limit_malloc_arenas() is True


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
