"""Databases for query tests: the schema tables on SQLite (always) and PostgreSQL (when configured).

`TRACELAKE_TEST_POSTGRES_URL` names a server; the tests create throwaway databases there and drop
them when done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from postgres_db import postgres_database as shared_postgres_database
from tracelake.model import TraceInfo, TraceState
from tracelake.store.sql.schema import experiments, metadata, spans, trace_metadata, trace_tags, traces

POSTGRES_ENV = "TRACELAKE_TEST_POSTGRES_URL"
# Read at collection, before any fixture scrubs TRACELAKE_* variables from the environment.
_POSTGRES_SERVER = os.environ.get(POSTGRES_ENV)
BACKENDS = ["sqlite", *([pytest.param("postgresql", marks=pytest.mark.postgres)] if _POSTGRES_SERVER else [])]


@contextmanager
def postgres_database(with_schema: bool = True) -> Iterator[sa.URL]:
    """Create a throwaway database on the configured server, and drop it afterwards.

    `with_schema` creates the schema tables directly; a store under test migrates its own.
    """
    with shared_postgres_database("tracelake_query") as url:
        if with_schema:
            engine = sa.create_engine(url)
            metadata.create_all(engine)
            engine.dispose()
        yield url


def sqlite_engine() -> sa.Engine:
    """A fresh in-memory SQLite database with the schema (one connection shared by all users)."""
    engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool, connect_args={"check_same_thread": False})
    metadata.create_all(engine)
    return engine


@dataclass
class Db:
    """An engine over the schema tables plus helpers to write rows directly."""

    engine: sa.Engine
    experiment_ids: set[int] = field(default_factory=set)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def experiment(self, experiment_id: int, lifecycle_stage: str = "active") -> None:
        with self.engine.begin() as connection:
            connection.execute(
                experiments.insert(),
                {
                    "experiment_id": experiment_id,
                    "name": f"exp-{experiment_id}",
                    "artifact_location": f"/tmp/exp-{experiment_id}",
                    "lifecycle_stage": lifecycle_stage,
                    "creation_time": 0,
                    "last_update_time": 0,
                },
            )
        self.experiment_ids.add(experiment_id)

    def add(self, *rows: Mapping[str, Any]) -> None:
        """Insert traces; each row holds trace columns plus optional `tags`, `metadata`, `spans`."""
        trace_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        metadata_rows: list[dict[str, Any]] = []
        span_rows: list[dict[str, Any]] = []
        for row in rows:
            columns = dict(row)
            trace_id = columns["trace_id"]
            experiment_id = columns.setdefault("experiment_id", 1)
            if experiment_id not in self.experiment_ids:
                self.experiment(experiment_id)
            columns.setdefault("request_time", 0)
            columns.setdefault("state", "OK")
            columns.setdefault("payload_uri", f"/tmp/{trace_id}")
            columns.setdefault("last_update_time", 0)
            columns.setdefault("span_count", 0)
            tag_rows += [{"trace_id": trace_id, "key": k, "value": v} for k, v in columns.pop("tags", {}).items()]
            metadata_rows += [
                {"trace_id": trace_id, "key": k, "value": v} for k, v in columns.pop("metadata", {}).items()
            ]
            for index, span in enumerate(columns.pop("spans", [])):
                span_rows.append(
                    {
                        "trace_id": trace_id,
                        "span_id": f"{index:016x}",
                        "experiment_id": experiment_id,
                        "name": span.get("name", f"span-{index}"),
                        "span_type": span.get("span_type", "UNKNOWN"),
                        "status": span.get("status", "OK"),
                        "start_time_ns": 0,
                        "model_name": span.get("model_name"),
                    }
                )
            trace_rows.append(columns)
        with self.engine.begin() as connection:
            # One row shape per executemany: fill absent optional columns with NULL.
            names = sorted({name for row in trace_rows for name in row})
            connection.execute(traces.insert(), [{name: row.get(name) for name in names} for row in trace_rows])
            for table, table_rows in ((trace_tags, tag_rows), (trace_metadata, metadata_rows), (spans, span_rows)):
                if table_rows:
                    connection.execute(table.insert(), table_rows)

    def ids(self, where: sa.ColumnElement[bool]) -> set[str]:
        with self.engine.connect() as connection:
            return {row[0] for row in connection.execute(sa.select(traces.c.trace_id).where(where))}

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(traces)).scalar_one())


def clear(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


class EngineStore:
    """The two reads `search_traces` needs, straight over an engine (a stand-in for SqlTraceStore).

    `get_trace_infos` deliberately returns infos in reverse id order, so tests prove that search
    restores its own order.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements: list[Any] = []

    def execute_read(self, statement: Any) -> list[Any]:
        self.statements.append(statement)
        with self.engine.connect() as connection:
            return list(connection.execute(statement))

    def get_trace_infos(self, trace_ids: Sequence[str]) -> list[TraceInfo]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(traces).where(traces.c.trace_id.in_(list(trace_ids)))).mappings()
            tags: dict[str, dict[str, str]] = {}
            for tag in connection.execute(sa.select(trace_tags).where(trace_tags.c.trace_id.in_(list(trace_ids)))):
                tags.setdefault(tag.trace_id, {})[tag.key] = tag.value
            infos = [
                TraceInfo(
                    trace_id=row["trace_id"],
                    experiment_id=str(row["experiment_id"]),
                    request_time=row["request_time"],
                    execution_duration=row["execution_duration"],
                    state=TraceState(row["state"]),
                    name=row["name"],
                    tags=tags.get(row["trace_id"], {}),
                )
                for row in rows
            ]
        return sorted(infos, key=lambda info: info.trace_id, reverse=True)
