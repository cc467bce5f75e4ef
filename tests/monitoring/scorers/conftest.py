"""Stores with traces to judge, a judge stub, and a job whose clock the test sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postgres_db import BACKENDS, postgres_database
from store.builders import T0_MS, make_batch, make_span, trace_id
from tracelake.model import TraceBatch
from tracelake.monitoring.scorers.job import ScorerJob, ScorerSettings
from tracelake.monitoring.scorers.judge_client import JudgeClient, JudgeConfig
from tracelake.store import SqlTraceStore
from tracelake.testing.llm_stub import LLMStub

#: Scorers in these tests are registered at T0_MS; traces start after it.
REGISTERED_MS = T0_MS
NOW_MS = T0_MS + 10_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTraceStore]:
    with SqlTraceStore(f"sqlite:///{tmp_path / 'tracelake.db'}", str(tmp_path / "artifacts")) as opened:
        yield opened


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTraceStore]:
    """A fresh store on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        with SqlTraceStore(f"sqlite:///{tmp_path / 'tracelake.db'}", str(tmp_path / "artifacts")) as opened:
            yield opened
        return
    with (
        postgres_database("tracelake_scorers") as url,
        SqlTraceStore(url.render_as_string(hide_password=False), str(tmp_path / "artifacts")) as opened,
    ):
        yield opened


@pytest.fixture
def experiment_id(store: SqlTraceStore) -> str:
    return store.create_experiment("support-agent").experiment_id


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as running:
        yield running


@pytest.fixture
def judge(stub: LLMStub) -> Iterator[JudgeClient]:
    client = JudgeClient(JudgeConfig(base_url=stub.base_url, model="gpt-4o-mini", api_key="unused", timeout_s=5))
    yield client
    client.close()


def make_job(store: SqlTraceStore, judge: JudgeClient | None = None, **settings: Any) -> ScorerJob:
    options = {"concurrency": 4, "backoff_s": 30.0, "time_limit_s": 5.0, **settings}
    return ScorerJob(store, ScorerSettings(**options), judge=judge)


@pytest.fixture
def job(store: SqlTraceStore, judge: JudgeClient) -> Iterator[ScorerJob]:
    running = make_job(store, judge)
    yield running
    running.close()


def agent_trace(
    n: int,
    *,
    question: str | None = None,
    answer: str | None = None,
    finished: bool = True,
    start_ms: int | None = None,
    extra: list[Any] | None = None,
    **fields: Any,
) -> TraceBatch:
    """A trace starting after the scorers' registration: a root with a question and an answer."""
    start = (start_ms if start_ms is not None else 1000 + n * 10) + (REGISTERED_MS - T0_MS)
    root = make_span(
        n,
        1,
        None,
        start,
        start + 500 if finished else None,
        name="agent",
        inputs={"question": question or f"question {n}"},
        outputs=(answer or f"answer {n}") if finished else None,
    )
    return make_batch([root, *(extra or [])], **fields)


def write(store: SqlTraceStore, experiment: str, *batches: TraceBatch) -> list[str]:
    store.write_batches(experiment, list(batches))
    return [batch.trace_id for batch in batches]


def feedback_of(store: SqlTraceStore, trace: str, name: str) -> list[Any]:
    return [a for a in store.list_assessments(trace) if a.name == name]


__all__ = ["NOW_MS", "REGISTERED_MS", "agent_trace", "feedback_of", "make_job", "trace_id", "write"]
