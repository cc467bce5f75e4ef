"""`list_sessions`: an experiment's traces grouped by session id, with per-session totals.

A session is every trace of one experiment that carries the same `session_id` (set with
`tracelake.update_current_trace(session_id=...)`). Sessions come most recently active first and are
paged by key (the last session's activity time and id), so a deep page costs what the first does.
The conversation itself is a plain search: `session = '<id>'` ordered by `timestamp_ms`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from tracelake.exceptions import QueryError
from tracelake.query.compile import compile_filter
from tracelake.query.grammar import parse_filter
from tracelake.query.metrics import MetricsStore
from tracelake.query.search import _experiment_ids
from tracelake.store.sql.schema import traces

__all__ = ["MAX_SESSIONS_PAGE", "Session", "SessionPage", "list_sessions"]

#: The largest page of sessions `list_sessions` serves.
MAX_SESSIONS_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Session:
    """The totals of one session.

    Attributes:
        session_id: the id the application gave the conversation.
        trace_count: traces (turns) in the session.
        error_count: those in state ERROR.
        first_time_ms: start of the first trace (ms since the epoch).
        last_time_ms: start of the latest trace.
        total_duration_ms: sum of the finished traces' durations.
        total_tokens: sum of the traces' token totals; None if none reported usage.
        total_cost: sum of their cost in US dollars; None if none reported a cost.
        user_id: the session's user (the greatest one, if several users share a session id).
    """

    session_id: str
    trace_count: int
    error_count: int
    first_time_ms: int
    last_time_ms: int
    total_duration_ms: int | None = None
    total_tokens: int | None = None
    total_cost: float | None = None
    user_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the REST form."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of sessions, most recently active first, and the token of the next page (None on the last)."""

    sessions: list[Session] = field(default_factory=list)
    next_page_token: str | None = None


def _encode(last_time_ms: int, session_id: str) -> str:
    text = json.dumps([last_time_ms, session_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise QueryError(f"page_token {token[:40]!r} is not a token this query returned") from exc
    if (
        not isinstance(value, list)
        or len(value) != 2
        or isinstance(value[0], bool)
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
    ):
        raise QueryError(f"page_token {token[:40]!r} is not a token this query returned")
    return value[0], value[1]


def list_sessions(
    store: MetricsStore,
    experiment_id: str,
    filter_string: str | None = None,
    max_results: int = 50,
    page_token: str | None = None,
) -> SessionPage:
    """Return one page of the experiment's sessions with their totals, most recently active first.

    Args:
        store: any `TraceStore` (only its `execute_read` is used).
        experiment_id: the experiment whose sessions to list.
        filter_string: only traces matching this filter (the search grammar) count.
        max_results: page size, 1 to `MAX_SESSIONS_PAGE`.
        page_token: the `next_page_token` of the previous page; None or "" for the first.

    Raises:
        QueryError: a bad experiment id, filter, page size or page token.
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_SESSIONS_PAGE:
        raise QueryError(f"max_results must be an integer between 1 and {MAX_SESSIONS_PAGE}, not {max_results!r}")
    (experiment,) = _experiment_ids([experiment_id]) or [0]
    where = compile_filter(parse_filter(filter_string))
    last_time = func.max(traces.c.request_time)
    statement = (
        select(
            traces.c.session_id,
            func.count(),
            func.sum(case((traces.c.state == "ERROR", 1), else_=0)),
            func.min(traces.c.request_time),
            last_time,
            func.sum(traces.c.execution_duration),
            func.sum(traces.c.total_tokens),
            func.sum(traces.c.total_cost),
            func.max(traces.c.user_id),
        )
        .where(traces.c.experiment_id == experiment, traces.c.session_id.is_not(None), where)
        .group_by(traces.c.session_id)
    )
    if page_token:
        after_time, after_id = _decode(page_token)
        statement = statement.having(
            or_(last_time < after_time, and_(last_time == after_time, traces.c.session_id < after_id))
        )
    statement = statement.order_by(last_time.desc(), traces.c.session_id.desc()).limit(max_results + 1)
    rows = store.execute_read(statement)
    sessions = [
        Session(
            session_id=str(row[0]),
            trace_count=int(row[1]),
            error_count=int(row[2] or 0),
            first_time_ms=int(row[3]),
            last_time_ms=int(row[4]),
            total_duration_ms=None if row[5] is None else int(row[5]),
            total_tokens=None if row[6] is None else int(row[6]),
            total_cost=None if row[7] is None else float(row[7]),
            user_id=row[8],
        )
        for row in rows[:max_results]
    ]
    token = None
    if len(rows) > max_results:
        last = sessions[-1]
        token = _encode(last.last_time_ms, last.session_id)
    return SessionPage(sessions=sessions, next_page_token=token)
