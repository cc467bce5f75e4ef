"""Real stores (SQLite and PostgreSQL) and helpers to write traces and read the archive back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from postgres_db import BACKENDS, postgres_database
from store.builders import make_batch, make_span
from tracelake.model import TraceBatch
from tracelake.store import SqlTraceStore


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTraceStore]:
    """A fresh store on SQLite or PostgreSQL, payloads under tmp_path."""
    if request.param == "sqlite":
        with SqlTraceStore(f"sqlite:///{tmp_path / 'tracelake.db'}", str(tmp_path / "artifacts")) as opened:
            yield opened
        return
    with (
        postgres_database("tracelake_archive") as url,
        SqlTraceStore(url.render_as_string(hide_password=False), str(tmp_path / "artifacts")) as opened,
    ):
        yield opened


def agent_trace(n: int, *, day: int = 0, extra_children: int = 0, **fields: Any) -> TraceBatch:
    """A finished agent trace: a root with a question, an LLM call with usage, a tool call."""
    start = day * 86_400_000 + n
    root = make_span(n, 1, None, start, start + 500, name="agent", inputs={"q": f"question {n}"}, outputs=f"answer {n}")
    llm = make_span(n, 2, 1, start + 10, start + 200, name="llm", tokens=(10 + n, 5), cost=0.002, inputs=[{"m": "hi"}])
    tool = make_span(n, 3, 1, start + 210, start + 300, name="search", inputs={"k": n}, outputs=[1, 2])
    more = [make_span(n, 4 + i, 1, start + 310 + i, start + 320 + i) for i in range(extra_children)]
    return make_batch([root, llm, tool, *more], counted=[2], **fields)


def fields(n: int) -> dict[str, Any]:
    return {"tags": {"team": "search"}, "metadata": {"session_id": f"s{n % 3}", "user_id": "u1"}}


def read(location: Path | str, table: str, storage_options: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every row of an archive table, read with deltalake."""
    rows: list[dict[str, Any]] = (
        DeltaTable(f"{location}/{table}", storage_options=storage_options).to_pyarrow_table().to_pylist()
    )
    return rows


def keys(rows: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(row[name] for name in names) for row in rows)


def feedback(trace: str, name: str, value: Any, *, assessment_id: str | None = None) -> Any:
    """A human feedback on a trace."""
    from tracelake.model import Assessment, AssessmentKind, AssessmentSource, AssessmentSourceType
    from tracelake.store.assessments import new_assessment_id

    return Assessment(
        assessment_id=assessment_id or new_assessment_id(),
        trace_id=trace,
        name=name,
        kind=AssessmentKind.FEEDBACK,
        value=value,
        source=AssessmentSource(AssessmentSourceType.HUMAN, "alice@example.com"),
        create_time_ms=0,
        last_update_time_ms=0,
        rationale="looked at it",
        metadata={"via": "ui"},
    )
