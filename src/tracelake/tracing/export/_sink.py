"""Where exported spans go: a sink takes a batch of SpanRecords for one experiment."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from tracelake.model import SpanRecord


class ExperimentRef:
    """The experiment a trace was started under, resolved to an id by the sink on the export thread.

    Resolving lazily keeps database work (and the SQL stack's import) off the caller's thread.
    """

    __slots__ = ("experiment_id", "name")

    def __init__(self, name: str | None = None, experiment_id: str | None = None) -> None:
        self.name = name
        self.experiment_id = experiment_id

    def __repr__(self) -> str:
        return f"ExperimentRef(name={self.name!r}, experiment_id={self.experiment_id!r})"


class SpanSink(Protocol):
    """Receives converted spans on the export thread. May raise: the exporter retries and counts."""

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None: ...

    def shutdown(self) -> None: ...


class InMemorySink:
    """Keeps every exported record in a list; used by `tracelake.testing` and in unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[tuple[ExperimentRef, SpanRecord]] = []

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        with self._lock:
            self.records.extend((experiment, record) for record in records)

    def shutdown(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
