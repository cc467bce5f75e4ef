"""`scorer_runs`: which traces a scorer version has judged, is judging, or will retry.

The primary key (scorer, version, trace) is what makes "never twice": a worker claims a trace by
inserting its row, and an insert that conflicts means another worker got there first. A claim is a
lease (`running` until `next_attempt_time`), so a worker that dies mid-call leaves a row another
worker takes over once the lease lapses.

Statuses: `running` (claimed), `done` (assessment written), `error` (failed; retried at
`next_attempt_time`), `failed` (gave up after the last attempt), `skipped` (not in the sample, the
trace lacked what the scorer needs, or it was deleted before scoring; `last_error` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, and_, exists, func, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tracelake.model import TraceState
from tracelake.query import compile_filter
from tracelake.store.sql.dialect import chunks
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.schema import scorer_runs, traces

__all__ = [
    "RunClaim",
    "RunOutcome",
    "ScorerStatus",
    "claim_due",
    "claim_new",
    "count_candidates",
    "finish_runs",
    "hour_usage",
    "scorer_status",
    "select_candidates",
]

RUNNING, DONE, ERROR, FAILED, SKIPPED = "running", "done", "error", "failed", "skipped"
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class RunClaim:
    """A trace this worker holds the lease of, for one scorer version."""

    trace_id: str
    attempts: int
    """Attempts made before this one."""
    assessment_id: str | None
    """The assessment an earlier attempt wrote (an error to overwrite), if any."""


@dataclass(frozen=True, slots=True)
class ScorerStatus:
    """Run counts of a scorer's current version, and its last error."""

    counts: dict[str, int]
    last_error: str | None
    calls_last_hour: int
    cost_last_hour: float


def select_candidates(
    engine: Engine,
    *,
    scorer_id: str,
    version: int,
    experiment_id: str,
    filter_string: str | None,
    since_ms: int,
    limit: int,
    session_idle_before_ms: int | None = None,
) -> list[str]:
    """Return complete traces the scorer version has no run for, oldest first.

    Args:
        engine: the store's engine.
        scorer_id: the registration.
        version: its current version.
        experiment_id: the experiment whose traces it judges.
        filter_string: the registration's filter, if any.
        since_ms: only traces that started at or after this time.
        limit: at most this many.
        session_idle_before_ms: for session scorers, only the latest trace of each session, and
            only once it started before this time (the session has gone quiet).
    """
    statement = _candidates(
        select(traces.c.trace_id), scorer_id, version, experiment_id, filter_string, since_ms, session_idle_before_ms
    )
    statement = statement.order_by(traces.c.request_time, traces.c.trace_id).limit(limit)
    with read_connection(engine) as connection:
        return [row.trace_id for row in connection.execute(statement)]


def count_candidates(
    engine: Engine,
    *,
    scorer_id: str,
    version: int,
    experiment_id: str,
    filter_string: str | None,
    since_ms: int,
    session_idle_before_ms: int | None = None,
) -> int:
    """Return how many traces `select_candidates` would go through (for a progress bar)."""
    statement = _candidates(
        select(func.count()).select_from(traces),
        scorer_id,
        version,
        experiment_id,
        filter_string,
        since_ms,
        session_idle_before_ms,
    )
    with read_connection(engine) as connection:
        return int(connection.execute(statement).scalar_one())


def _candidates(
    statement: Select[Any],
    scorer_id: str,
    version: int,
    experiment_id: str,
    filter_string: str | None,
    since_ms: int,
    session_idle_before_ms: int | None,
) -> Select[Any]:
    already = exists().where(
        scorer_runs.c.scorer_id == scorer_id,
        scorer_runs.c.scorer_version == version,
        scorer_runs.c.trace_id == traces.c.trace_id,
    )
    statement = statement.where(
        traces.c.experiment_id == int(experiment_id),
        traces.c.state.in_([TraceState.OK.value, TraceState.ERROR.value]),
        traces.c.request_time >= since_ms,
        compile_filter(filter_string),
        not_(already),
    )
    if session_idle_before_ms is not None:
        later = traces.alias("later")
        newer = exists().where(
            later.c.experiment_id == traces.c.experiment_id,
            later.c.session_id == traces.c.session_id,
            or_(
                later.c.request_time > traces.c.request_time,
                and_(later.c.request_time == traces.c.request_time, later.c.trace_id > traces.c.trace_id),
            ),
        )
        statement = statement.where(
            traces.c.session_id.is_not(None), traces.c.request_time < session_idle_before_ms, not_(newer)
        )
    return statement


def _insert(engine: Engine) -> Any:
    return postgresql.insert(scorer_runs) if engine.dialect.name == "postgresql" else sqlite.insert(scorer_runs)


def claim_new(
    engine: Engine,
    scorer_id: str,
    version: int,
    sampled: Sequence[str],
    skipped: Sequence[str],
    now_ms: int,
    lease_ms: int,
) -> list[str]:
    """Insert runs: `running` for the sampled traces, `skipped` for the others; return those claimed here."""
    claimed: list[str] = []
    with write_transaction(engine) as connection:
        for chunk in chunks(list(sampled), 200):
            rows = [
                {
                    "scorer_id": scorer_id,
                    "scorer_version": version,
                    "trace_id": trace_id,
                    "status": RUNNING,
                    "attempts": 0,
                    "next_attempt_time": now_ms + lease_ms,
                    "updated_time": now_ms,
                }
                for trace_id in chunk
            ]
            # One multi-row INSERT; RETURNING lists the rows inserted here, not the ones another worker holds.
            statement = _insert(engine).values(rows).on_conflict_do_nothing().returning(scorer_runs.c.trace_id)
            claimed += [row.trace_id for row in connection.execute(statement)]
        if skipped:
            statement = _insert(engine).on_conflict_do_nothing()
            connection.execute(
                statement,
                [
                    {
                        "scorer_id": scorer_id,
                        "scorer_version": version,
                        "trace_id": trace_id,
                        "status": SKIPPED,
                        "attempts": 0,
                        "next_attempt_time": None,
                        "last_error": "not in the sample",
                        "updated_time": now_ms,
                    }
                    for trace_id in skipped
                ],
            )
    return claimed


def claim_due(engine: Engine, scorer_id: str, version: int, now_ms: int, lease_ms: int, limit: int) -> list[RunClaim]:
    """Take the lease of runs due for a retry (and of runs whose worker's lease lapsed)."""
    due = (
        select(scorer_runs.c.trace_id, scorer_runs.c.status, scorer_runs.c.attempts, scorer_runs.c.assessment_id)
        .where(
            scorer_runs.c.scorer_id == scorer_id,
            scorer_runs.c.scorer_version == version,
            scorer_runs.c.status.in_([ERROR, RUNNING]),
            scorer_runs.c.next_attempt_time <= now_ms,
        )
        .order_by(scorer_runs.c.next_attempt_time)
        .limit(limit)
    )
    claims: list[RunClaim] = []
    with write_transaction(engine) as connection:
        for row in connection.execute(due).all():
            taken = connection.execute(
                update(scorer_runs)
                .where(
                    scorer_runs.c.scorer_id == scorer_id,
                    scorer_runs.c.scorer_version == version,
                    scorer_runs.c.trace_id == row.trace_id,
                    scorer_runs.c.status == row.status,
                    scorer_runs.c.next_attempt_time <= now_ms,
                )
                .values(status=RUNNING, next_attempt_time=now_ms + lease_ms, updated_time=now_ms)
                .returning(scorer_runs.c.trace_id)
            )
            if taken.first() is not None:
                claims.append(RunClaim(row.trace_id, int(row.attempts), row.assessment_id))
    return claims


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The result of one attempt on one trace, written with the others of its batch."""

    trace_id: str
    status: str
    attempts: int
    assessment_id: str | None = None
    cost: float = 0.0
    error: str | None = None
    next_attempt_ms: int | None = None


def finish_runs(engine: Engine, scorer_id: str, version: int, outcomes: Sequence[RunOutcome], now_ms: int) -> None:
    """Record the outcomes of a batch in one transaction (the cost adds to what earlier attempts spent)."""
    if not outcomes:
        return
    with write_transaction(engine) as connection:
        for outcome in outcomes:
            connection.execute(
                update(scorer_runs)
                .where(
                    scorer_runs.c.scorer_id == scorer_id,
                    scorer_runs.c.scorer_version == version,
                    scorer_runs.c.trace_id == outcome.trace_id,
                )
                .values(
                    status=outcome.status,
                    attempts=outcome.attempts,
                    next_attempt_time=outcome.next_attempt_ms,
                    last_error=outcome.error,
                    assessment_id=outcome.assessment_id,
                    cost=func.coalesce(scorer_runs.c.cost, 0.0) + outcome.cost,
                    updated_time=now_ms,
                )
            )


def hour_usage(engine: Engine, scorer_id: str, now_ms: int) -> tuple[int, float]:
    """Return (runs attempted or in flight, USD spent) of a scorer over the last rolling hour."""
    statement = select(func.count(), func.coalesce(func.sum(scorer_runs.c.cost), 0.0)).where(
        scorer_runs.c.scorer_id == scorer_id,
        scorer_runs.c.updated_time > now_ms - HOUR_MS,
        or_(scorer_runs.c.status == RUNNING, scorer_runs.c.attempts > 0),
    )
    with read_connection(engine) as connection:
        calls, cost = connection.execute(statement).one()
    return int(calls), float(cost)


def scorer_status(engine: Engine, scorer_id: str, version: int, now_ms: int) -> ScorerStatus:
    """Return the run counts by status of one scorer version, its newest error and its hour's usage."""
    mine = and_(scorer_runs.c.scorer_id == scorer_id, scorer_runs.c.scorer_version == version)
    with read_connection(engine) as connection:
        counts = {
            row.status: int(row.n)
            for row in connection.execute(
                select(scorer_runs.c.status, func.count().label("n")).where(mine).group_by(scorer_runs.c.status)
            )
        }
        last = connection.execute(
            select(scorer_runs.c.last_error)
            .where(mine, scorer_runs.c.status.in_([ERROR, FAILED]))
            .order_by(scorer_runs.c.updated_time.desc())
            .limit(1)
        ).first()
    calls, cost = hour_usage(engine, scorer_id, now_ms)
    return ScorerStatus(counts, None if last is None else last.last_error, calls, cost)
