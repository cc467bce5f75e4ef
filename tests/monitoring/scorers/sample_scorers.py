"""Code scorers importable by module path, as a worker process loads them."""

from __future__ import annotations

import threading
from typing import Any

from tracelake.monitoring import Feedback, scorer

#: Attempts left to fail, per trace id (tests set it).
FAILURES: dict[str, int] = {}
#: Released by tests to let `hangs` return.
RELEASE = threading.Event()
#: Called by `deletes_its_trace` with the trace id (tests set it).
ON_SCORE: list[Any] = []


@scorer
def concise(outputs: Any) -> bool:
    return len(str(outputs)) < 20


@scorer(name="answer_length")
def length(outputs: Any) -> int:
    return len(str(outputs))


@scorer
def flaky(trace: Any) -> str:
    left = FAILURES.get(trace.info.trace_id, 0)
    if left:
        FAILURES[trace.info.trace_id] = left - 1
        raise RuntimeError("the flaky scorer failed")
    return "fine"


@scorer
def hangs(outputs: Any) -> bool:
    RELEASE.wait(30)
    return True


@scorer
def breaks(outputs: Any) -> bool:
    raise ValueError("no good")


@scorer
def several(inputs: Any, outputs: Any, expectations: Any) -> list[Feedback]:
    return [
        Feedback(name="has_answer", value=bool(outputs)),
        Feedback(name="matches", value=outputs == expectations.get("expected_response"), rationale="compared"),
    ]


@scorer
def deletes_its_trace(trace: Any) -> bool:
    for hook in ON_SCORE:
        hook(trace.info.trace_id)
    return True


def plain_function(outputs: Any) -> float:
    return 0.5
