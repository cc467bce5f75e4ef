"""Reading what was traced: search, get and delete traces in the configured store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from tracelake import _setup
from tracelake.model import Experiment, Trace
from tracelake.tracing import RUNTIME
from tracelake.tracing.export._batch import ExportStats

T = TypeVar("T")


class PagedList(list[T], Generic[T]):
    """A page of results; `next_page_token` fetches the next page (None on the last one)."""

    def __init__(self, items: Sequence[T], next_page_token: str | None) -> None:
        super().__init__(items)
        self.next_page_token = next_page_token

    @property
    def token(self) -> str | None:
        """Alias of `next_page_token`."""
        return self.next_page_token


def search_traces(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
    include_spans: bool = True,
) -> PagedList[Trace]:
    """Find traces with the filter grammar, newest first unless `order_by` says otherwise.

    Args:
        experiment_ids: experiments to search; default: the current experiment, or all if none is set.
        filter_string: e.g. `status = 'ERROR' AND metadata.environment = 'production'`.
        order_by: e.g. `["timestamp_ms DESC"]`, `["execution_time_ms"]`.
        max_results: page size (1 to 50,000).
        page_token: `next_page_token` of the previous page.
        include_spans: False returns traces with summaries only (faster).

    Raises:
        QueryError: the filter or order-by is invalid; the message says what and where.
    """
    backend = _setup.get_backend()
    if experiment_ids is None:
        current = _setup.current_experiment_id()
        experiment_ids = None if current is None else [current]
    traces, token = backend.search_traces(
        experiment_ids, filter_string, order_by, max_results, page_token, include_spans
    )
    return PagedList(traces, token)


def get_trace(trace_id: str) -> Trace:
    """Return a stored trace with all its spans.

    Raises:
        NotFoundError: no trace with that id.
    """
    return _setup.get_backend().get_trace(trace_id)


def delete_traces(
    experiment_id: str,
    max_timestamp_ms: int | None = None,
    max_traces: int | None = None,
    trace_ids: Sequence[str] | None = None,
) -> int:
    """Delete traces (index rows and payloads) for retention; returns how many were deleted.

    Either `trace_ids`, or `max_timestamp_ms` (delete older traces) optionally with `max_traces`
    (delete at most that many, oldest first).
    """
    return _setup.get_backend().delete_traces(experiment_id, max_timestamp_ms, max_traces, trace_ids)


def get_experiment_by_name(name: str) -> Experiment | None:
    """Return the experiment with this name, or None."""
    return _setup.get_backend().get_experiment_by_name(name)


def flush(timeout: float | None = None) -> bool:
    """Wait until every span that ended before this call is stored.

    Returns:
        True if all of them reached the store and none was dropped or failed since the last flush.
    """
    return RUNTIME.flush(timeout)


def shutdown(timeout: float | None = 10.0) -> bool:
    """Flush and stop the exporter (also done at interpreter exit)."""
    return RUNTIME.shutdown(timeout)


def export_stats() -> ExportStats | None:
    """Counters of spans exported, dropped and failed in this process (None before configuration)."""
    exporter = RUNTIME.exporter
    return None if exporter is None else exporter.stats()
