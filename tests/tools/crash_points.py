"""`python -m tests.tools.crash_points POINT:N ARGS…`: `yuebao ARGS…` that kills itself with
SIGKILL the N-th time the delivery engine reaches POINT.

The kill -9 tests use it to stop a worker at the worst moments; the product carries no hook for
it. The points, patched onto the engine from outside:
- `after_claim`: a batch's claim is committed, nothing of it prepared yet;
- `after_call`: SES answered a call, nothing of the answer recorded;
- `before_record`: the answer is settled in the session but not committed;
- `queue_stored`: a batch of SES events from SQS is stored and committed, not yet deleted from
  the queue.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

POINTS = ("after_claim", "after_call", "before_record", "queue_stored")


def arm(point: str, nth: int) -> None:
    """Patch the engine so the process dies the `nth` time `point` is reached."""
    from webapp.delivery import engine, sending
    from webapp.events import sqs

    if point not in POINTS:
        raise SystemExit(f"unknown crash point {point!r}; one of {', '.join(POINTS)}")
    seen: Counter[str] = Counter()

    def reached(name: str) -> None:
        if name != point:
            return
        seen[name] += 1
        if seen[name] >= nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def before(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reached(name)
            return function(*args, **kwargs)
        return wrapper

    def after(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = function(*args, **kwargs)
            reached(name)
            return value
        return wrapper

    # Each committed claim is followed by exactly one of these: prepare a batch, or finish.
    engine.DeliveryEngine._prepare = before("after_claim", engine.DeliveryEngine._prepare)  # type: ignore[method-assign]
    sending.finish_if_done = before("after_claim", sending.finish_if_done)
    settle = engine.DeliveryEngine._settle_answers
    engine.DeliveryEngine._settle_answers = after(  # type: ignore[method-assign]
        "before_record", before("after_call", settle)
    )
    engine.DeliveryEngine._settle_call_error = after(  # type: ignore[method-assign]
        "before_record", engine.DeliveryEngine._settle_call_error
    )
    sqs.QueuePoller._store = after("queue_stored", sqs.QueuePoller._store)  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    point, _, count = argv[0].partition(":")
    arm(point, int(count or 1))
    from webapp.cli import main as yuebao

    yuebao.main(args=argv[1:], prog_name="yuebao")


if __name__ == "__main__":
    main(sys.argv[1:])
