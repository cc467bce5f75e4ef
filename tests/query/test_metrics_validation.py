"""query_metrics refuses bad requests with a QueryError naming the problem, before touching the store."""

from __future__ import annotations

from typing import Any

import pytest

from tracelake.exceptions import QueryError
from tracelake.query import METRICS, query_metrics
from tracelake.query import metrics as metrics_module

T0 = 1_764_000_000_000
DAY = 86_400_000


class NoStore:
    """Fails the test if a query reaches it."""

    def execute_read(self, statement: Any) -> list[Any]:
        raise AssertionError("an invalid request reached the store")


def check(message: str, **changes: Any) -> QueryError:
    arguments: dict[str, Any] = {
        "experiment_ids": ["1"],
        "start_time_ms": T0,
        "end_time_ms": T0 + DAY,
        "bucket_seconds": 3600,
        "metrics": ["request_count"],
    }
    arguments.update(changes)
    with pytest.raises(QueryError) as caught:
        query_metrics(NoStore(), **arguments)
    assert message in str(caught.value)
    return caught.value


def test_unknown_metric_is_named_with_a_suggestion() -> None:
    check("unknown metric 'latency_p95'", metrics=["request_count", "latency_p95"])
    check("did you mean 'error_rate'", metrics=["error_rat"])
    check("no metrics asked for", metrics=[])


@pytest.mark.parametrize("group_by", ["model_name", "tags.", "tags", "span.type", "metadata.``", "status"])
def test_bad_group_by(group_by: str) -> None:
    check(f"invalid group_by {group_by!r}: use tags.<key>, metadata.<key>, model or span.name", group_by=group_by)


def test_range_must_not_be_empty_or_reversed() -> None:
    check(
        "end_time_ms (1764000000000) must be after start_time_ms (1764000000001)", start_time_ms=T0 + 1, end_time_ms=T0
    )
    check("must be after", end_time_ms=T0)
    check("start_time_ms must be between 0 and", start_time_ms=-1)
    check("end_time_ms must be an integer", end_time_ms=T0 + 0.5)
    check("start_time_ms must be an integer", start_time_ms=True)


def test_bucket_size() -> None:
    check("bucket_seconds must be between 1 and", bucket_seconds=0)
    check("bucket_seconds must be an integer", bucket_seconds=1.5)
    # A day of 1-second buckets is 86,400 buckets; the message says what would do.
    check(
        "86,400 buckets of 1 s in the range: at most 10,000 are allowed (use bucket_seconds of at least about 9",
        bucket_seconds=1,
    )
    check("10,001 buckets", end_time_ms=T0 + 10_001_000, bucket_seconds=1)


def test_exactly_the_bucket_limit_is_allowed() -> None:
    class Empty:
        def execute_read(self, statement: Any) -> list[Any]:
            return []

    result = query_metrics(Empty(), ["1"], T0, T0 + 10_000_000, 1, ["request_count"])
    assert result.series == []


def test_bad_filter_keeps_its_position() -> None:
    error = check("unknown field", filter_string="status = 'OK' AND colour = 'red'")
    assert error.position == 18


def test_bad_experiment_id() -> None:
    check("experiment id 'abc' is not a valid id", experiment_ids=["abc"])


def test_too_many_points(monkeypatch: pytest.MonkeyPatch) -> None:
    class Rows:
        def execute_read(self, statement: Any) -> list[Any]:
            return [object()] * 4

    monkeypatch.setattr(metrics_module, "MAX_POINTS", 3)
    with pytest.raises(QueryError, match="more than 3 points: use larger buckets"):
        query_metrics(Rows(), ["1"], T0, T0 + DAY, 3600, METRICS)


@pytest.mark.parametrize(
    ("group_by", "kind", "key"),
    [
        ("tags.env", "tags", "env"),
        ("TAG.env", "tags", "env"),
        ("metadata.mlflow.trace.session", "metadata", "mlflow.trace.session"),
        ("metadata.`my key`", "metadata", "my key"),
        ("Model", "model", None),
        (" span.name ", "span.name", None),
    ],
)
def test_group_by_spellings(group_by: str, kind: str, key: str | None) -> None:
    spec = metrics_module._parse_group_by(group_by)
    assert spec is not None
    assert (spec.kind, spec.key) == (kind, key)
    assert metrics_module._parse_group_by("  ") is None


def test_module_all_is_sorted_and_defined_here() -> None:
    import tracelake.query.metrics_sql as sql_module

    for module in (metrics_module, sql_module):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            value = getattr(module, name)
            assert getattr(value, "__module__", module.__name__) == module.__name__, name
