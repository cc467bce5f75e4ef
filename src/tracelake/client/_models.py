"""Result types of the client that the model does not have: pages, metric series, monitoring settings, users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tracelake.model import Experiment, Trace


@dataclass(frozen=True)
class TracePage:
    """One page of search results; pass `next_page_token` to get the next (None on the last page)."""

    traces: list[Trace]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[Trace]:
        return iter(self.traces)

    def __len__(self) -> int:
        return len(self.traces)


@dataclass(frozen=True)
class MetricPoint:
    """One time bucket: its start and the value of each requested metric (None when undefined)."""

    start_time_ms: int
    values: dict[str, float | None] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> float | None:
        return self.values[metric]


@dataclass(frozen=True)
class MetricSeries:
    """The points of one group (`group` is None when the request had no `group_by`)."""

    group: str | None
    points: list[MetricPoint]


@dataclass(frozen=True)
class MetricsResult:
    """Answer of `Client.get_metrics`: bucket width and one series per group."""

    bucket_seconds: int
    series: list[MetricSeries]


def experiment_from_dict(data: dict[str, Any]) -> Experiment:
    """Build an Experiment from its `to_dict()` form."""
    return Experiment(
        experiment_id=str(data["experiment_id"]),
        name=str(data["name"]),
        artifact_location=str(data.get("artifact_location") or ""),
        lifecycle_stage=str(data.get("lifecycle_stage") or "active"),
        creation_time=int(data.get("creation_time") or 0),
        last_update_time=int(data.get("last_update_time") or 0),
        tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
    )


def metrics_from_dict(data: dict[str, Any]) -> MetricsResult:
    """Build a MetricsResult from the body of `POST /api/v1/metrics`."""
    series = []
    for raw in data.get("series") or []:
        points = []
        for point in raw.get("points") or []:
            values = {k: (None if v is None else float(v)) for k, v in point.items() if k != "start_time_ms"}
            points.append(MetricPoint(int(point["start_time_ms"]), values))
        group = raw.get("group")
        series.append(MetricSeries(None if group is None else str(group), points))
    return MetricsResult(int(data.get("bucket_seconds") or 0), series)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class ArchiveStatus:
    """An experiment's Delta archive: its settings and how its syncs went (docs/archive.md).

    Attributes:
        experiment_id: the archived experiment.
        experiment_name: its name.
        location: the folder or `s3://` URI of its tables.
        interval_seconds: how often `tracelake monitor` syncs it.
        enabled: whether it is synced at all.
        lag_ms: the age of the oldest change not archived yet (0: up to date).
        watermark_ms: the newest change time archived.
        last_sync_time_ms: when the last sync ran; `last_success_time_ms` when one last succeeded.
        last_status: `ok`, `error`, … of the last sync (None before the first).
        last_error: what the last failed sync said.
        last_duration_ms: how long the last sync took.
        rows_written: rows written so far per table (`traces`, `spans`, `assessments`).
        syncing_now: whether a monitor holds the experiment's sync lease.
    """

    experiment_id: str
    experiment_name: str | None
    location: str
    interval_seconds: int
    enabled: bool
    lag_ms: int
    watermark_ms: int | None
    last_sync_time_ms: int | None
    last_success_time_ms: int | None
    last_status: str | None
    last_error: str | None
    last_duration_ms: int | None
    rows_written: dict[str, int]
    syncing_now: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchiveStatus:
        """Build it from the server's JSON form."""
        return cls(
            experiment_id=str(data["experiment_id"]),
            experiment_name=_optional_str(data.get("experiment_name")),
            location=str(data["location"]),
            interval_seconds=int(data["interval_seconds"]),
            enabled=bool(data["enabled"]),
            lag_ms=int(data.get("lag_ms") or 0),
            watermark_ms=_optional_int(data.get("watermark_ms")),
            last_sync_time_ms=_optional_int(data.get("last_sync_time_ms")),
            last_success_time_ms=_optional_int(data.get("last_success_time_ms")),
            last_status=_optional_str(data.get("last_status")),
            last_error=_optional_str(data.get("last_error")),
            last_duration_ms=_optional_int(data.get("last_duration_ms")),
            rows_written={str(k): int(v) for k, v in (data.get("rows_written") or {}).items()},
            syncing_now=bool(data.get("syncing_now")),
        )


@dataclass(frozen=True)
class ScorerInfo:
    """A scorer registered on an experiment, with what it has done (docs/scorers.md).

    Attributes:
        scorer_id, experiment_id, name, version, kind: which scorer (`builtin` judge or `code`).
        definition: what the worker rebuilds it from, e.g. `{"judge": "Safety", "name": "safety", …}`.
        state: `active` or `stopped`.
        sample_rate, filter_string: which traces it judges.
        max_calls_per_hour, max_cost_per_hour: its budget (None: none).
        version_time_ms, created_time_ms, updated_time_ms: milliseconds since the epoch.
        runs: its current version's runs by status (`done`, `error`, `failed`, `skipped`, `running`).
        calls_last_hour, cost_last_hour: its usage over the last hour (cost in USD).
        last_error: its newest failure, if any.
    """

    scorer_id: str
    experiment_id: str
    name: str
    version: int
    kind: str
    definition: dict[str, Any]
    state: str
    sample_rate: float
    filter_string: str | None
    max_calls_per_hour: int | None
    max_cost_per_hour: float | None
    version_time_ms: int
    created_time_ms: int
    updated_time_ms: int
    runs: dict[str, int]
    calls_last_hour: int
    cost_last_hour: float
    last_error: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScorerInfo:
        """Build it from the server's JSON form."""
        status = data.get("status") or {}
        cost = data.get("max_cost_per_hour")
        return cls(
            scorer_id=str(data["scorer_id"]),
            experiment_id=str(data["experiment_id"]),
            name=str(data["name"]),
            version=int(data["version"]),
            kind=str(data["kind"]),
            definition=dict(data.get("definition") or {}),
            state=str(data["state"]),
            sample_rate=float(data["sample_rate"]),
            filter_string=_optional_str(data.get("filter")),
            max_calls_per_hour=_optional_int(data.get("max_calls_per_hour")),
            max_cost_per_hour=None if cost is None else float(cost),
            version_time_ms=int(data.get("version_time_ms") or 0),
            created_time_ms=int(data.get("created_time_ms") or 0),
            updated_time_ms=int(data.get("updated_time_ms") or 0),
            runs={str(k): int(v) for k, v in (status.get("runs") or {}).items()},
            calls_last_hour=int(status.get("calls_last_hour") or 0),
            cost_last_hour=float(status.get("cost_last_hour") or 0.0),
            last_error=_optional_str(status.get("last_error")),
        )


@dataclass(frozen=True)
class UserInfo:
    """A user of a server with authentication (docs/auth.md): never its password or tokens."""

    name: str
    is_admin: bool
    active: bool
    created_time_ms: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserInfo:
        """Build it from the server's JSON form."""
        return cls(
            name=str(data["name"]),
            is_admin=bool(data.get("is_admin")),
            active=bool(data.get("active", not data.get("disabled", False))),
            created_time_ms=int(data.get("created_time_ms") or 0),
        )
