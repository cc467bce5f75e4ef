"""Result types of the client that the model does not have: pages of traces and metric series."""

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
