"""Crash points for the kill -9 tests: the worker kills itself at a named point.

Set YUEBAO_CRASH_AT=<point>:<n> to die with SIGKILL the n-th time the point is reached. Unset
(always, outside those tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

POINTS = ("after_claim", "after_call", "before_record")
_seen: Counter[str] = Counter()


def crash_point(name: str) -> None:
    setting = os.environ.get("YUEBAO_CRASH_AT")
    if not setting:
        return
    point, _, count = setting.partition(":")
    if point != name:
        return
    _seen[name] += 1
    if _seen[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
