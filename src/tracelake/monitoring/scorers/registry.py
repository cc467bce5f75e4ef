"""Registered scorers: rows of the `scorers` table, one per (experiment, name).

A registration holds the scorer's definition (see `definitions`), its sample rate, filter, budget
and state. Changing the definition makes a new version; changing anything else does not.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from tracelake.exceptions import ConfigError, NotFoundError
from tracelake.query import parse_filter
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.schema import scorer_runs, scorers

if TYPE_CHECKING:
    from tracelake.monitoring.scorers.base import Scorer
    from tracelake.store import SqlTraceStore, TraceStore

__all__ = [
    "ScorerRegistration",
    "delete_scorer",
    "get_scorer",
    "list_scorers",
    "register_scorer",
    "set_scorer_state",
    "update_scorer",
]

ACTIVE = "active"
STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ScorerRegistration:
    """A scorer registered on an experiment.

    Attributes:
        scorer_id: the registration's id.
        experiment_id: the experiment whose traces it judges.
        name: the scorer's (and its assessments') name, unique per experiment.
        version: bumped when the definition changes; each version judges a trace at most once.
        kind: `builtin` (an LLM judge of tracelake) or `code` (a Python function).
        definition: the JSON the worker rebuilds the scorer from.
        sample_rate: fraction of matching traces judged, decided by trace id.
        filter_string: only traces matching it (search grammar); None for all.
        state: `active` or `stopped`.
        max_calls_per_hour, max_cost_per_hour: the budget over any rolling hour; None for none.
        version_time: when this version was registered (ms); new traces from then on are judged.
        created_time, updated_time: milliseconds since the Unix epoch.
    """

    scorer_id: str
    experiment_id: str
    name: str
    version: int
    kind: str
    definition: dict[str, Any]
    sample_rate: float
    filter_string: str | None
    state: str
    max_calls_per_hour: int | None
    max_cost_per_hour: float | None
    version_time: int
    created_time: int
    updated_time: int

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _row_to_registration(row: Any) -> ScorerRegistration:
    return ScorerRegistration(
        scorer_id=row.scorer_id,
        experiment_id=str(row.experiment_id),
        name=row.name,
        version=int(row.version),
        kind=row.kind,
        definition=json.loads(row.definition),
        sample_rate=float(row.sample_rate),
        filter_string=row.filter_string,
        state=row.state,
        max_calls_per_hour=row.max_calls_per_hour,
        max_cost_per_hour=row.max_cost_per_hour,
        version_time=int(row.version_time),
        created_time=int(row.created_time),
        updated_time=int(row.updated_time),
    )


def sql_store(store: TraceStore | None) -> SqlTraceStore:
    """Return `store`, or the configured local store; scorers need a SQL store."""
    from tracelake.store import SqlTraceStore

    if store is None:
        from tracelake import _setup

        store = _setup.get_store()
    if not isinstance(store, SqlTraceStore):
        raise ConfigError(f"scorers are registered in a SQL store (sqlite or postgresql), not a {type(store).__name__}")
    return store


def _check(sample_rate: float | None, filter_string: str | None, max_calls: int | None, max_cost: float | None) -> None:
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not 0.0 <= sample_rate <= 1.0
    ):
        raise ConfigError(f"sample_rate must be a number from 0.0 to 1.0, not {sample_rate!r}")
    if filter_string:
        parse_filter(filter_string)  # a QueryError says what is wrong and where
    if max_calls is not None and (isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls <= 0):
        raise ConfigError(f"max_calls_per_hour must be a positive whole number, not {max_calls!r}")
    if max_cost is not None and (
        isinstance(max_cost, bool)
        or not isinstance(max_cost, (int, float))
        or not math.isfinite(max_cost)
        or max_cost <= 0
    ):
        raise ConfigError(f"max_cost_per_hour must be a positive number of USD, not {max_cost!r}")


def _experiment_id(store: SqlTraceStore, experiment: str, create: bool) -> str:
    found = store.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    if create:
        return store.get_or_create_experiment(experiment).experiment_id
    raise NotFoundError(f"no experiment named {experiment!r}")


def register_scorer(
    scorer: Scorer,
    experiment: str,
    *,
    sample_rate: float = 1.0,
    filter_string: str | None = None,
    max_calls_per_hour: int | None = None,
    max_cost_per_hour: float | None = None,
    store: TraceStore | None = None,
    now_ms: int | None = None,
) -> ScorerRegistration:
    """Register (or re-register) `scorer` on `experiment`; see `Scorer.register`."""
    _check(sample_rate, filter_string, max_calls_per_hour, max_cost_per_hour)
    sql = sql_store(store)
    definition = scorer.definition()
    text = json.dumps(definition, sort_keys=True)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    experiment_id = _experiment_id(sql, experiment, create=True)
    values = {
        "sample_rate": float(sample_rate),
        "filter_string": filter_string or None,
        "max_calls_per_hour": max_calls_per_hour,
        "max_cost_per_hour": None if max_cost_per_hour is None else float(max_cost_per_hour),
        "state": ACTIVE,
        "updated_time": now,
    }
    with write_transaction(sql.engine) as connection:
        row = connection.execute(
            select(scorers).where(scorers.c.experiment_id == int(experiment_id), scorers.c.name == scorer.name)
        ).first()
        if row is None:
            scorer_id = uuid.uuid4().hex
            connection.execute(
                insert(scorers).values(
                    scorer_id=scorer_id,
                    experiment_id=int(experiment_id),
                    name=scorer.name,
                    version=1,
                    kind=scorer.kind,
                    definition=text,
                    version_time=now,
                    created_time=now,
                    **values,
                )
            )
        else:
            scorer_id = row.scorer_id
            if row.definition != text or row.kind != scorer.kind:
                values.update(version=row.version + 1, version_time=now, definition=text, kind=scorer.kind)
            connection.execute(update(scorers).where(scorers.c.scorer_id == scorer_id).values(**values))
    return get_scorer(experiment, scorer.name, store=sql)


def get_scorer(experiment: str, name: str, *, store: TraceStore | None = None) -> ScorerRegistration:
    """Return the registration of scorer `name` on `experiment`.

    Raises:
        NotFoundError: no such experiment or scorer.
    """
    sql = sql_store(store)
    experiment_id = _experiment_id(sql, experiment, create=False)
    with read_connection(sql.engine) as connection:
        row = connection.execute(
            select(scorers).where(scorers.c.experiment_id == int(experiment_id), scorers.c.name == name)
        ).first()
    if row is None:
        raise NotFoundError(f"no scorer named {name!r} on experiment {experiment!r}")
    return _row_to_registration(row)


def list_scorers(experiment: str | None = None, *, store: TraceStore | None = None) -> list[ScorerRegistration]:
    """Return the registrations of one experiment, or of all, by experiment and name."""
    sql = sql_store(store)
    statement = select(scorers).order_by(scorers.c.experiment_id, scorers.c.name)
    if experiment is not None:
        statement = statement.where(scorers.c.experiment_id == int(_experiment_id(sql, experiment, create=False)))
    with read_connection(sql.engine) as connection:
        return [_row_to_registration(row) for row in connection.execute(statement)]


def update_scorer(
    experiment: str,
    name: str,
    *,
    sample_rate: float | None = None,
    filter_string: str | None = None,
    max_calls_per_hour: int | None = None,
    max_cost_per_hour: float | None = None,
    store: TraceStore | None = None,
    now_ms: int | None = None,
) -> ScorerRegistration:
    """Change a registration's sample rate, filter (`""` removes it) or budget; the version stays."""
    _check(sample_rate, filter_string, max_calls_per_hour, max_cost_per_hour)
    sql = sql_store(store)
    current = get_scorer(experiment, name, store=sql)
    values: dict[str, Any] = {"updated_time": int(time.time() * 1000) if now_ms is None else now_ms}
    if sample_rate is not None:
        values["sample_rate"] = float(sample_rate)
    if filter_string is not None:
        values["filter_string"] = filter_string or None
    if max_calls_per_hour is not None:
        values["max_calls_per_hour"] = max_calls_per_hour
    if max_cost_per_hour is not None:
        values["max_cost_per_hour"] = float(max_cost_per_hour)
    with write_transaction(sql.engine) as connection:
        connection.execute(update(scorers).where(scorers.c.scorer_id == current.scorer_id).values(**values))
    return get_scorer(experiment, name, store=sql)


def set_scorer_state(experiment: str, name: str, state: str, *, store: TraceStore | None = None) -> ScorerRegistration:
    """Start (`active`) or stop (`stopped`) a scorer; a stopped scorer judges nothing until started."""
    if state not in (ACTIVE, STOPPED):
        raise ConfigError(f"a scorer's state is 'active' or 'stopped', not {state!r}")
    sql = sql_store(store)
    current = get_scorer(experiment, name, store=sql)
    with write_transaction(sql.engine) as connection:
        connection.execute(
            update(scorers)
            .where(scorers.c.scorer_id == current.scorer_id)
            .values(state=state, updated_time=int(time.time() * 1000))
        )
    return get_scorer(experiment, name, store=sql)


def delete_scorer(experiment: str, name: str, *, store: TraceStore | None = None) -> None:
    """Delete a registration and its run records; the assessments it wrote stay."""
    sql = sql_store(store)
    current = get_scorer(experiment, name, store=sql)
    with write_transaction(sql.engine) as connection:
        connection.execute(delete(scorer_runs).where(scorer_runs.c.scorer_id == current.scorer_id))
        connection.execute(delete(scorers).where(scorers.c.scorer_id == current.scorer_id))


def active_registrations(store: SqlTraceStore, experiment_ids: list[str] | None = None) -> list[ScorerRegistration]:
    """Return the active registrations (of the given experiments), for the worker."""
    statement = select(scorers).where(scorers.c.state == ACTIVE).order_by(scorers.c.experiment_id, scorers.c.name)
    if experiment_ids is not None:
        statement = statement.where(scorers.c.experiment_id.in_([int(e) for e in experiment_ids]))
    with read_connection(store.engine) as connection:
        return [_row_to_registration(row) for row in connection.execute(statement)]
