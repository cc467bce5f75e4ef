"""Registered scorers: rows of the `scorers` table, one per (experiment, name).

A registration holds the scorer's definition (see `definitions`), its sample rate, filter, budget
and state. Changing the definition makes a new version; changing anything else does not.

The functions by experiment *id* (`save_registration`, `find_registration`, `list_registrations`,
`change_registration`, `remove_registration`) work on a SQL store: the server's REST routes and
the CLI use them. The public functions by experiment *name* (`register_scorer`, `get_scorer`, …)
work on the given store or, without one, on the configured destination: a local store, or a
tracking server through its REST API (built-in judges only are registered that way).
"""

from __future__ import annotations

import inspect
import json
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, insert, select, update

from tracelake.exceptions import ConfigError, NotFoundError
from tracelake.query import parse_filter
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.schema import scorer_runs, scorers

if TYPE_CHECKING:
    from tracelake._remote import ClientBackend
    from tracelake.client import ScorerInfo
    from tracelake.monitoring.scorers.base import Scorer
    from tracelake.store import SqlTraceStore, TraceStore

__all__ = [
    "KEEP",
    "ScorerRegistration",
    "builtin_judge",
    "change_registration",
    "delete_scorer",
    "find_registration",
    "get_scorer",
    "list_registrations",
    "list_scorers",
    "register_scorer",
    "remove_registration",
    "save_registration",
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


def _server(store: TraceStore | None) -> ClientBackend | None:
    """The configured tracking server's backend, when no store is given and the SDK points at a server."""
    if store is not None:
        return None
    from tracelake import _setup
    from tracelake._remote import ClientBackend

    backend = _setup.get_backend()
    return backend if isinstance(backend, ClientBackend) else None


def _server_experiment_id(server: ClientBackend, experiment: str, create: bool) -> str:
    if create:
        return server.get_or_create_experiment(experiment).experiment_id
    found = server.client.get_experiment_by_name(experiment)
    if found is None:
        raise NotFoundError(f"no experiment named {experiment!r}")
    return found.experiment_id


def _from_info(info: ScorerInfo) -> ScorerRegistration:
    return ScorerRegistration(
        scorer_id=info.scorer_id,
        experiment_id=info.experiment_id,
        name=info.name,
        version=info.version,
        kind=info.kind,
        definition=info.definition,
        sample_rate=info.sample_rate,
        filter_string=info.filter_string,
        state=info.state,
        max_calls_per_hour=info.max_calls_per_hour,
        max_cost_per_hour=info.max_cost_per_hour,
        version_time=info.version_time_ms,
        created_time=info.created_time_ms,
        updated_time=info.updated_time_ms,
    )


def _register_on_server(
    server: ClientBackend,
    scorer: Scorer,
    experiment: str,
    sample_rate: float,
    filter_string: str | None,
    max_calls_per_hour: int | None,
    max_cost_per_hour: float | None,
) -> ScorerRegistration:
    if scorer.kind != "builtin":
        raise ConfigError(
            f"code scorer {scorer.name!r} cannot be registered through a tracking server (the monitoring worker"
            " would run code sent over the network): register it on the server's database, e.g."
            " TRACELAKE_TRACKING_URI=postgresql://… or store=SqlTraceStore(…)"
        )
    parameters = scorer.definition()
    judge, name = str(parameters.pop("judge")), str(parameters.pop("name"))
    experiment_id = _server_experiment_id(server, experiment, create=True)
    info = server.client.register_judge(
        experiment_id,
        judge,
        name,
        parameters,
        sample_rate=sample_rate,
        filter_string=filter_string,
        max_calls_per_hour=max_calls_per_hour,
        max_cost_per_hour=max_cost_per_hour,
    )
    return _from_info(info)


def builtin_judge(judge: str, name: str | None = None, parameters: Mapping[str, Any] | None = None) -> Scorer:
    """Build a built-in LLM judge from its class name and constructor parameters (what a REST client sends).

    Args:
        judge: the judge's class name, e.g. `Guidelines` (see `BUILTIN_JUDGES`).
        name: the scorer's name (default: the judge's own, e.g. `safety`).
        parameters: its other constructor arguments, e.g. `{"guidelines": [...], "model": "gpt-4o"}`.

    Raises:
        ConfigError: an unknown judge or parameter, or a parameter value the judge refuses.
    """
    from tracelake.monitoring.scorers.judges import BUILTIN_JUDGES

    cls = BUILTIN_JUDGES.get(judge)
    if cls is None:
        raise ConfigError(f"unknown built-in judge {judge!r}: expected one of {', '.join(sorted(BUILTIN_JUDGES))}")
    arguments = dict(parameters or {})
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "name")]
    unknown = sorted(set(arguments) - set(accepted))
    if unknown:
        takes = ", ".join(accepted)
        raise ConfigError(f"judge {judge} takes no parameter {', '.join(map(repr, unknown))} (it takes: {takes})")
    model = arguments.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip() or len(model) > 200):
        raise ConfigError(f"model must be a model name (1 to 200 characters), not {str(model)[:40]!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError("a scorer name must have 1 to 250 characters, not blank")
    try:
        return cls(name=name, **arguments)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid parameters for judge {judge}: {exc}") from None


class _Keep:
    """The default of `change_registration`'s arguments: leave this setting as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


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
    """Register (or re-register) `scorer` on `experiment`; see `Scorer.register`.

    With no `store` and the SDK pointed at a tracking server, a built-in judge is registered through
    the server's REST API (which checks CAN_MANAGE); a code scorer is refused (see docs/scorers.md).
    """
    _check(sample_rate, filter_string, max_calls_per_hour, max_cost_per_hour)
    server = _server(store)
    if server is not None:
        return _register_on_server(
            server, scorer, experiment, sample_rate, filter_string, max_calls_per_hour, max_cost_per_hour
        )
    sql = sql_store(store)
    experiment_id = _experiment_id(sql, experiment, create=True)
    registration, _ = save_registration(
        sql,
        experiment_id,
        scorer,
        sample_rate=sample_rate,
        filter_string=filter_string,
        max_calls_per_hour=max_calls_per_hour,
        max_cost_per_hour=max_cost_per_hour,
        now_ms=now_ms,
    )
    return registration


def save_registration(
    store: SqlTraceStore,
    experiment_id: str,
    scorer: Scorer,
    *,
    sample_rate: float = 1.0,
    filter_string: str | None = None,
    max_calls_per_hour: int | None = None,
    max_cost_per_hour: float | None = None,
    now_ms: int | None = None,
) -> tuple[ScorerRegistration, bool]:
    """Register `scorer` on the experiment with this id, or update its registration of that name.

    Returns:
        The stored registration, and whether it is new.

    Raises:
        ConfigError: a bad sample rate or budget. QueryError: a bad filter. Nothing is stored then.
    """
    _check(sample_rate, filter_string, max_calls_per_hour, max_cost_per_hour)
    definition = scorer.definition()
    text = json.dumps(definition, sort_keys=True)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    values = {
        "sample_rate": float(sample_rate),
        "filter_string": filter_string or None,
        "max_calls_per_hour": max_calls_per_hour,
        "max_cost_per_hour": None if max_cost_per_hour is None else float(max_cost_per_hour),
        "state": ACTIVE,
        "updated_time": now,
    }
    with write_transaction(store.engine) as connection:
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
    return find_registration(store, experiment_id, scorer.name), row is None


def find_registration(store: SqlTraceStore, experiment_id: str, name: str) -> ScorerRegistration:
    """Return the registration of scorer `name` on the experiment with this id.

    Raises:
        NotFoundError: the experiment has no scorer of that name.
    """
    with read_connection(store.engine) as connection:
        row = connection.execute(
            select(scorers).where(scorers.c.experiment_id == int(experiment_id), scorers.c.name == name)
        ).first()
    if row is None:
        raise NotFoundError(f"no scorer named {name!r} on experiment {experiment_id}")
    return _row_to_registration(row)


def list_registrations(store: SqlTraceStore, experiment_id: str | None = None) -> list[ScorerRegistration]:
    """Return the registrations of the experiment with this id (or of all), by experiment and name."""
    statement = select(scorers).order_by(scorers.c.experiment_id, scorers.c.name)
    if experiment_id is not None:
        statement = statement.where(scorers.c.experiment_id == int(experiment_id))
    with read_connection(store.engine) as connection:
        return [_row_to_registration(row) for row in connection.execute(statement)]


def change_registration(
    store: SqlTraceStore,
    experiment_id: str,
    name: str,
    *,
    state: str | _Keep = KEEP,
    sample_rate: float | _Keep = KEEP,
    filter_string: str | _Keep | None = KEEP,
    max_calls_per_hour: int | _Keep | None = KEEP,
    max_cost_per_hour: float | _Keep | None = KEEP,
    now_ms: int | None = None,
) -> ScorerRegistration:
    """Change a registration's state, sample rate, filter or budget; the version stays.

    An argument left at `KEEP` keeps its setting; `None` (or `""` for the filter) removes a filter
    or a budget.

    Raises:
        NotFoundError: no such registration. ConfigError: a bad state, sample rate or budget.
        QueryError: a bad filter. Nothing is changed then.
    """
    if not isinstance(state, _Keep) and state not in (ACTIVE, STOPPED):
        raise ConfigError(f"a scorer's state is 'active' or 'stopped', not {state!r}")
    _check(
        None if isinstance(sample_rate, _Keep) else sample_rate,
        None if isinstance(filter_string, _Keep) else filter_string,
        None if isinstance(max_calls_per_hour, _Keep) else max_calls_per_hour,
        None if isinstance(max_cost_per_hour, _Keep) else max_cost_per_hour,
    )
    current = find_registration(store, experiment_id, name)
    values: dict[str, Any] = {"updated_time": int(time.time() * 1000) if now_ms is None else now_ms}
    if not isinstance(state, _Keep):
        values["state"] = state
    if not isinstance(sample_rate, _Keep):
        values["sample_rate"] = float(sample_rate)
    if not isinstance(filter_string, _Keep):
        values["filter_string"] = filter_string or None
    if not isinstance(max_calls_per_hour, _Keep):
        values["max_calls_per_hour"] = max_calls_per_hour
    if not isinstance(max_cost_per_hour, _Keep):
        values["max_cost_per_hour"] = None if max_cost_per_hour is None else float(max_cost_per_hour)
    with write_transaction(store.engine) as connection:
        connection.execute(update(scorers).where(scorers.c.scorer_id == current.scorer_id).values(**values))
    return find_registration(store, experiment_id, name)


def remove_registration(store: SqlTraceStore, experiment_id: str, name: str) -> ScorerRegistration:
    """Delete a registration and its run records (the assessments it wrote stay); return what was deleted.

    Raises:
        NotFoundError: no such registration.
    """
    current = find_registration(store, experiment_id, name)
    with write_transaction(store.engine) as connection:
        connection.execute(delete(scorer_runs).where(scorer_runs.c.scorer_id == current.scorer_id))
        connection.execute(delete(scorers).where(scorers.c.scorer_id == current.scorer_id))
    return current


def _named(store: TraceStore | None, experiment: str, name: str | None = None) -> tuple[SqlTraceStore, str]:
    """Return the SQL store and the experiment's id; with `name`, check the scorer exists (naming both)."""
    sql = sql_store(store)
    experiment_id = _experiment_id(sql, experiment, create=False)
    if name is not None:
        try:
            find_registration(sql, experiment_id, name)
        except NotFoundError:
            raise NotFoundError(f"no scorer named {name!r} on experiment {experiment!r}") from None
    return sql, experiment_id


def get_scorer(experiment: str, name: str, *, store: TraceStore | None = None) -> ScorerRegistration:
    """Return the registration of scorer `name` on `experiment`.

    Raises:
        NotFoundError: no such experiment or scorer.
    """
    server = _server(store)
    if server is not None:
        return _from_info(server.client.get_scorer(_server_experiment_id(server, experiment, False), name))
    return find_registration(*_named(store, experiment, name), name)


def list_scorers(experiment: str | None = None, *, store: TraceStore | None = None) -> list[ScorerRegistration]:
    """Return the registrations of one experiment, or of all, by experiment and name."""
    server = _server(store)
    if server is not None:
        experiment_id = None if experiment is None else _server_experiment_id(server, experiment, False)
        return [_from_info(info) for info in server.client.list_scorers(experiment_id)]
    if experiment is None:
        return list_registrations(sql_store(store))
    return list_registrations(*_named(store, experiment))


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
    server = _server(store)
    if server is not None:
        info = server.client.update_scorer(
            _server_experiment_id(server, experiment, False),
            name,
            sample_rate=sample_rate,
            filter_string=filter_string,
            max_calls_per_hour=max_calls_per_hour,
            max_cost_per_hour=max_cost_per_hour,
        )
        return _from_info(info)
    sql, experiment_id = _named(store, experiment, name)
    return change_registration(
        sql,
        experiment_id,
        name,
        sample_rate=KEEP if sample_rate is None else sample_rate,
        filter_string=KEEP if filter_string is None else filter_string,
        max_calls_per_hour=KEEP if max_calls_per_hour is None else max_calls_per_hour,
        max_cost_per_hour=KEEP if max_cost_per_hour is None else max_cost_per_hour,
        now_ms=now_ms,
    )


def set_scorer_state(experiment: str, name: str, state: str, *, store: TraceStore | None = None) -> ScorerRegistration:
    """Start (`active`) or stop (`stopped`) a scorer; a stopped scorer judges nothing until started."""
    if state not in (ACTIVE, STOPPED):
        raise ConfigError(f"a scorer's state is 'active' or 'stopped', not {state!r}")
    server = _server(store)
    if server is not None:
        experiment_id = _server_experiment_id(server, experiment, False)
        return _from_info(server.client.update_scorer(experiment_id, name, state=state))
    return change_registration(*_named(store, experiment, name), name, state=state)


def delete_scorer(experiment: str, name: str, *, store: TraceStore | None = None) -> None:
    """Delete a registration and its run records; the assessments it wrote stay."""
    server = _server(store)
    if server is not None:
        server.client.delete_scorer(_server_experiment_id(server, experiment, False), name)
        return
    remove_registration(*_named(store, experiment, name), name)


def active_registrations(store: SqlTraceStore, experiment_ids: list[str] | None = None) -> list[ScorerRegistration]:
    """Return the active registrations (of the given experiments), for the worker."""
    statement = select(scorers).where(scorers.c.state == ACTIVE).order_by(scorers.c.experiment_id, scorers.c.name)
    if experiment_ids is not None:
        statement = statement.where(scorers.c.experiment_id.in_([int(e) for e in experiment_ids]))
    with read_connection(store.engine) as connection:
        return [_row_to_registration(row) for row in connection.execute(statement)]
