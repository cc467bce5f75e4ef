"""Archive settings and sync state in the tracking database, and the leases that keep syncs single.

A lease is the `archive_state` row of an experiment with `lease_owner`/`lease_expires` set. It is
taken in a write transaction: on PostgreSQL the row is read `FOR UPDATE SKIP LOCKED` (a second
monitor skips a row another is taking, rather than waiting); on SQLite `BEGIN IMMEDIATE` holds the
database's write lock, which serialises the check and the update. A crashed holder's lease lapses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from tracelake.exceptions import InvalidArgumentError, NotFoundError
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.schema import archive_settings, archive_state, traces

DEFAULT_INTERVAL_SECONDS = 900
MIN_INTERVAL_SECONDS = 1


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class ArchiveSettings:
    """Where and how often an experiment is archived."""

    experiment_id: str
    location: str
    interval_seconds: int
    enabled: bool


@dataclass(frozen=True)
class ArchiveState:
    """What the last syncs of an experiment did (see `tracelake archive status`)."""

    experiment_id: str
    next_sync_time: int
    lease_owner: str | None
    lease_expires: int | None
    watermark_ms: int | None
    last_sync_time: int | None
    last_success_time: int | None
    last_status: str | None
    last_error: str | None
    last_duration_ms: int | None
    traces_rows: int
    spans_rows: int
    assessments_rows: int
    last_compact_time: int | None
    last_vacuum_time: int | None


def _settings(row: Any) -> ArchiveSettings:
    return ArchiveSettings(str(row.experiment_id), row.location, int(row.interval_seconds), bool(row.enabled))


def validate(location: str, interval_seconds: int) -> None:
    """Raise `InvalidArgumentError` for an empty location or an interval under a second."""
    if not location.strip():
        raise InvalidArgumentError("the archive location is empty: give a folder or an s3://bucket/prefix URI")
    if location.split("://", 1)[0] not in (location, "s3", "file") and "://" in location:
        raise InvalidArgumentError(f"unsupported archive location {location!r}: use a local folder or s3://…")
    if interval_seconds < MIN_INTERVAL_SECONDS:
        raise InvalidArgumentError(f"the archive interval must be at least {MIN_INTERVAL_SECONDS}s")


def enable(engine: Engine, experiment_id: str, location: str, interval_seconds: int = DEFAULT_INTERVAL_SECONDS) -> None:
    """Turn archiving on for an experiment (creating or replacing its settings); the first sync is due now."""
    configure(engine, experiment_id, location, interval_seconds, enabled=True)


def configure(
    engine: Engine,
    experiment_id: str,
    location: str,
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    *,
    enabled: bool = True,
) -> ArchiveSettings:
    """Create or replace an experiment's archive settings and return them; when enabled, a sync is due now.

    Raises:
        InvalidArgumentError: an empty or unsupported location, or an interval under a second.
    """
    if location.startswith("file://"):
        location = location[len("file://") :]
    validate(location, interval_seconds)
    now = now_ms()
    with write_transaction(engine) as connection:
        values = {
            "location": location,
            "interval_seconds": interval_seconds,
            "enabled": int(enabled),
            "updated_time": now,
        }
        where = archive_settings.c.experiment_id == int(experiment_id)
        if connection.execute(update(archive_settings).where(where).values(**values)).rowcount == 0:
            connection.execute(
                insert(archive_settings).values(experiment_id=int(experiment_id), created_time=now, **values)
            )
        _ensure_state(connection, experiment_id)
        if enabled:
            connection.execute(
                update(archive_state)
                .where(archive_state.c.experiment_id == int(experiment_id))
                .values(next_sync_time=0)
            )
    return ArchiveSettings(str(experiment_id), location, interval_seconds, enabled)


def disable(engine: Engine, experiment_id: str) -> None:
    """Turn archiving off for an experiment; its tables and settings stay."""
    with write_transaction(engine) as connection:
        where = archive_settings.c.experiment_id == int(experiment_id)
        if connection.execute(update(archive_settings).where(where).values(enabled=0, updated_time=now_ms())).rowcount:
            return
    raise NotFoundError(f"archiving was never enabled for experiment {experiment_id}")


def get_settings(engine: Engine, experiment_id: str) -> ArchiveSettings | None:
    """Return an experiment's archive settings, or None if archiving was never enabled."""
    with read_connection(engine) as connection:
        row = connection.execute(
            select(archive_settings).where(archive_settings.c.experiment_id == int(experiment_id))
        ).first()
    return None if row is None else _settings(row)


def list_settings(engine: Engine) -> list[ArchiveSettings]:
    """Return the archive settings of every experiment that has some."""
    with read_connection(engine) as connection:
        rows = connection.execute(select(archive_settings).order_by(archive_settings.c.experiment_id)).all()
    return [_settings(row) for row in rows]


def get_state(engine: Engine, experiment_id: str) -> ArchiveState | None:
    """Return an experiment's sync state, or None before its first sync."""
    with read_connection(engine) as connection:
        row = connection.execute(
            select(archive_state).where(archive_state.c.experiment_id == int(experiment_id))
        ).first()
    if row is None:
        return None
    values = dict(row._mapping)
    values["experiment_id"] = str(values["experiment_id"])
    return ArchiveState(**values)


@dataclass(frozen=True)
class ArchiveStatus:
    """An experiment's archive settings and how its syncs went (the REST API's and `archive status`'s view)."""

    settings: ArchiveSettings
    lag_ms: int
    """The age of the oldest change not archived yet; 0 when the archive is up to date."""
    state: ArchiveState | None
    """None before the first sync was due."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as `GET /api/v1/experiments/{experiment_id}/archive` answers it."""
        state = self.state
        return {
            "experiment_id": self.settings.experiment_id,
            "location": self.settings.location,
            "interval_seconds": self.settings.interval_seconds,
            "enabled": self.settings.enabled,
            "lag_ms": self.lag_ms,
            "watermark_ms": None if state is None else state.watermark_ms,
            "last_sync_time_ms": None if state is None else state.last_sync_time,
            "last_success_time_ms": None if state is None else state.last_success_time,
            "last_status": None if state is None else state.last_status,
            "last_error": None if state is None else state.last_error,
            "last_duration_ms": None if state is None else state.last_duration_ms,
            "rows_written": {
                "traces": 0 if state is None else state.traces_rows,
                "spans": 0 if state is None else state.spans_rows,
                "assessments": 0 if state is None else state.assessments_rows,
            },
            # A crashed monitor's lease lingers until it lapses: only a live lease means a sync runs.
            "syncing_now": state is not None and state.lease_expires is not None and state.lease_expires > now_ms(),
        }


def lag(engine: Engine, experiment_id: str, watermark_ms: int | None) -> int:
    """Return how far the archive is behind: the age of the oldest change not archived yet (0 if none)."""
    changed = traces.c.last_update_time
    query = select(func.min(changed)).where(
        traces.c.experiment_id == int(experiment_id), changed > (-1 if watermark_ms is None else watermark_ms)
    )
    with read_connection(engine) as connection:
        oldest = connection.execute(query).scalar_one()
    return 0 if oldest is None else max(0, now_ms() - int(oldest))


def get_status(engine: Engine, experiment_id: str) -> ArchiveStatus | None:
    """Return an experiment's archive settings with its sync state and lag, or None if never configured."""
    current = get_settings(engine, experiment_id)
    return None if current is None else _status(engine, current)


def list_status(engine: Engine) -> list[ArchiveStatus]:
    """Return the archive status of every experiment that has archive settings, by experiment id."""
    return [_status(engine, current) for current in list_settings(engine)]


def _status(engine: Engine, current: ArchiveSettings) -> ArchiveStatus:
    state = get_state(engine, current.experiment_id)
    watermark = None if state is None else state.watermark_ms
    return ArchiveStatus(current, lag(engine, current.experiment_id, watermark), state)


def _ensure_state(connection: Connection, experiment_id: str) -> None:
    exists = connection.execute(
        select(archive_state.c.experiment_id).where(archive_state.c.experiment_id == int(experiment_id))
    ).first()
    if exists is None:
        connection.execute(insert(archive_state).values(experiment_id=int(experiment_id), next_sync_time=0))


def _lease_free(now: int) -> Any:
    return or_(archive_state.c.lease_expires.is_(None), archive_state.c.lease_expires < now)


def acquire_lease(engine: Engine, experiment_id: str, owner: str, ttl_ms: int) -> bool:
    """Take the experiment's sync lease for `ttl_ms` if nobody holds it; return whether we got it."""
    now = now_ms()
    with write_transaction(engine) as connection:
        _ensure_state(connection, experiment_id)
        query = (
            select(archive_state.c.experiment_id)
            .where(archive_state.c.experiment_id == int(experiment_id), _lease_free(now))
            .with_for_update(skip_locked=True)
        )
        if connection.execute(query).first() is None:
            return False
        connection.execute(
            update(archive_state)
            .where(archive_state.c.experiment_id == int(experiment_id))
            .values(lease_owner=owner, lease_expires=now + ttl_ms)
        )
    return True


def claim_due(engine: Engine, owner: str, ttl_ms: int) -> ArchiveSettings | None:
    """Lease one enabled experiment whose sync is due and not leased; return its settings, or None."""
    now = now_ms()
    with write_transaction(engine) as connection:
        for settings_row in connection.execute(
            select(archive_settings.c.experiment_id).where(archive_settings.c.enabled == 1)
        ).all():
            _ensure_state(connection, str(settings_row.experiment_id))
        query = (
            select(archive_state.c.experiment_id)
            .join(archive_settings, archive_settings.c.experiment_id == archive_state.c.experiment_id)
            .where(and_(archive_settings.c.enabled == 1, archive_state.c.next_sync_time <= now, _lease_free(now)))
            .order_by(archive_state.c.next_sync_time)
            .limit(1)
            .with_for_update(of=archive_state, skip_locked=True)
        )
        row = connection.execute(query).first()
        if row is None:
            return None
        connection.execute(
            update(archive_state)
            .where(archive_state.c.experiment_id == row.experiment_id)
            .values(lease_owner=owner, lease_expires=now + ttl_ms)
        )
        settings = connection.execute(
            select(archive_settings).where(archive_settings.c.experiment_id == row.experiment_id)
        ).one()
    return _settings(settings)


def renew_lease(engine: Engine, experiment_id: str, owner: str, ttl_ms: int) -> bool:
    """Extend our lease; return False if it lapsed and someone else holds it now."""
    with write_transaction(engine) as connection:
        where = and_(archive_state.c.experiment_id == int(experiment_id), archive_state.c.lease_owner == owner)
        return bool(
            connection.execute(update(archive_state).where(where).values(lease_expires=now_ms() + ttl_ms)).rowcount
        )


def finish(engine: Engine, experiment_id: str, owner: str, values: dict[str, Any]) -> None:
    """Record a sync's outcome (`values` of `archive_state`) and release our lease."""
    with write_transaction(engine) as connection:
        where = and_(archive_state.c.experiment_id == int(experiment_id), archive_state.c.lease_owner == owner)
        connection.execute(update(archive_state).where(where).values(lease_owner=None, lease_expires=None, **values))


def add_counts(values: dict[str, Any], traces: int, spans: int, assessments: int) -> dict[str, Any]:
    """Return `values` plus increments of the cumulative row counters."""
    return {
        **values,
        "traces_rows": archive_state.c.traces_rows + traces,
        "spans_rows": archive_state.c.spans_rows + spans,
        "assessments_rows": archive_state.c.assessments_rows + assessments,
    }
