"""kill -9 at fixed points and at random moments: afterwards every reader has exactly one sent
delivery and SES saw exactly one message per reader."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.resilience.conftest import Stage, finish, kill

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

READERS = 45
# (point, n): die the n-th time the point is reached.
FIXED = [(point, n) for point in ("after_claim", "after_call", "before_record") for n in (1, 2, 3)]


def _check_exactly_once(stage: Stage) -> None:
    assert stage.statuses() == {"sent": READERS}
    per_reader = Counter(m.recipient for m in stage.sim.messages)
    assert len(per_reader) == READERS and set(per_reader.values()) == {1}


@pytest.mark.parametrize(("point", "nth"), FIXED)
def test_kill_at_a_fixed_point(stage: Callable[..., Stage], point: str, nth: int) -> None:
    setup = stage(READERS, rate=15)
    worker = setup.worker(crash=f"{point}:{nth}")
    assert worker.wait(timeout=120) == -9, setup.log.read_text()[-3000:]
    finish(setup)
    _check_exactly_once(setup)


@pytest.mark.parametrize("seed", range(11))
def test_kill_at_a_random_moment(stage: Callable[..., Stage], seed: int) -> None:
    setup = stage(READERS, rate=15)
    worker = setup.worker()
    time.sleep(random.Random(seed).uniform(1.0, 3.5))  # start-up is about a second
    kill(worker)
    finish(setup)
    _check_exactly_once(setup)
