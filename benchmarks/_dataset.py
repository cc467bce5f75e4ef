"""Large trace stores for the read benchmarks (`bench_search.py`, `bench_metrics.py`), built fast and cached.

A dataset is one experiment holding N traces spread over one day (`T0` to `T0 + DAY`), as a day of
production traffic leaves them: 3-10 spans per trace (an agent root; retrieval, tools, one to three
LLM calls with token usage and cost), 3% of traces in error, 0.5% still running, two tags
(`feature`, `release`), metadata `environment`, `session_id` and `user_id`, short previews.

Almost all of it is written as index rows straight into the database (SQLite: `executemany` in big
transactions; PostgreSQL: `COPY`), with the secondary indexes dropped during the load and rebuilt
after it — a million traces take minutes this way, where the write API (which also compresses and
stores every span payload) would take hours. The last `API_TRACES` traces go through the store's
own `write_batches`, so that their payloads exist and `get_trace` reads real objects; their times
are spread over the same day.

Datasets are cached under `benchmarks/out/datasets/` (SQLite files; payloads of PostgreSQL datasets)
and in PostgreSQL databases named `tracelake_bench_<VERSION>_<N>`, keyed by size and `VERSION`; a
complete dataset carries the experiment tag `bench.dataset`. Opening the store migrates a cached
dataset to the current schema (new indexes are built then). `--rebuild` in the scripts drops them.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _bench import HERE

from tracelake.model import Cost, Span, SpanStatus, StatusCode, TokenUsage, TraceBatch, TraceFields
from tracelake.store import SqlTraceStore

#: Bump when the generated data changes: cached datasets of another version are not reused.
VERSION = "v1"
T0 = 1_763_942_400_000  # ms: 2025-11-24 00:00 UTC
DAY = 86_400_000
EXPERIMENT = "bench"
API_TRACES = 1_000
CACHE = HERE / "out" / "datasets"
_MARKER = "bench.dataset"

AGENTS = ("support_agent", "sales_agent", "triage_agent")
FEATURES = ("checkout", "search", "refunds", "shipping", "returns", "billing", "account", "catalog")
RELEASES = tuple(f"v1.{n}" for n in range(10))
ENVIRONMENTS = ("production",) * 16 + ("staging",) * 3 + ("development",)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet")
# (span name, span type): the children an agent trace is made of. `escalate_to_human` is rare
# (about 1% of traces), the others common.
TOOLS = (("lookup_order", "TOOL"), ("search_kb", "TOOL"), ("create_ticket", "TOOL"), ("send_email", "TOOL"))
RARE_TOOL = "escalate_to_human"
USERS = 5_000

TRACE_COLUMNS = (
    "trace_id",
    "experiment_id",
    "request_time",
    "end_time",
    "execution_duration",
    "state",
    "name",
    "root_span_id",
    "request_preview",
    "response_preview",
    "session_id",
    "user_id",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_cost",
    "output_cost",
    "total_cost",
    "span_count",
    "payload_uri",
    "last_update_time",
)
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "experiment_id",
    "parent_span_id",
    "name",
    "span_type",
    "status",
    "start_time_ns",
    "end_time_ns",
    "duration_ns",
    "model_name",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_cost",
    "output_cost",
    "total_cost",
    "counted",
)
_BULK_TABLES = ("traces", "spans", "trace_tags", "trace_metadata")


@dataclass(frozen=True)
class GenSpan:
    span_id: str
    parent_id: str | None
    name: str
    span_type: str
    start_ns: int
    end_ns: int | None
    error: bool
    model: str | None = None
    tokens: tuple[int, int] | None = None
    cost: tuple[float, float] | None = None


@dataclass(frozen=True)
class GenTrace:
    trace_id: str
    request_time: int
    spans: list[GenSpan]
    tags: dict[str, str]
    metadata: dict[str, str]
    request_preview: str
    response_preview: str | None


def generate(count: int, seed: int = 7) -> Iterator[GenTrace]:
    """Yield `count` traces of one day, in start-time order (how they arrive)."""
    rnd = random.Random(seed)
    times = sorted(T0 + rnd.randrange(DAY) for _ in range(count))
    for index, at in enumerate(times):
        yield _trace(rnd, index, at)


def _trace(rnd: random.Random, index: int, at: int) -> GenTrace:
    trace_id = f"{rnd.getrandbits(128):032x}"
    in_progress = rnd.random() < 0.005
    error = not in_progress and rnd.random() < 0.03
    start_ns = at * 1_000_000
    ids = [f"{rnd.getrandbits(64):016x}" for _ in range(3 + rnd.randrange(8))]
    root = ids[0]
    spans: list[GenSpan] = []
    cursor = start_ns + rnd.randrange(100_000, 2_000_000)
    children = ids[1:]
    llm_calls = 1 + (len(children) >= 4) + (len(children) >= 7)
    kinds = [("retrieve_docs", "RETRIEVER")] + [("chat_completion", "LLM")] * llm_calls
    while len(kinds) < len(children):
        kinds.append(TOOLS[rnd.randrange(len(TOOLS))])
    if rnd.random() < 0.01:
        kinds[-1] = (RARE_TOOL, "TOOL")
    rnd.shuffle(kinds)
    failing = rnd.randrange(len(children)) if error else -1
    for position, (span_id, (name, span_type)) in enumerate(zip(children, kinds, strict=True)):
        if span_type == "LLM":
            duration = int(rnd.lognormvariate(6.3, 0.7) * 1_000_000)
            model = MODELS[rnd.randrange(3)]
            tokens = (rnd.randrange(200, 4000), rnd.randrange(20, 800))
            cost = (tokens[0] * 0.15e-6, tokens[1] * 0.6e-6)
        else:
            duration, model, tokens, cost = int(rnd.lognormvariate(3.5, 1.0) * 1_000_000), None, None, None
        end = None if in_progress and position == len(children) - 1 else cursor + duration
        spans.append(GenSpan(span_id, root, name, span_type, cursor, end, position == failing, model, tokens, cost))
        cursor += duration + rnd.randrange(50_000, 500_000)
    root_end = None if in_progress else cursor + rnd.randrange(100_000, 1_000_000)
    spans.insert(0, GenSpan(root, None, AGENTS[index % 3], "AGENT", start_ns, root_end, error))
    user = rnd.randrange(USERS)
    metadata = {
        "environment": ENVIRONMENTS[rnd.randrange(len(ENVIRONMENTS))],
        "session_id": f"session-{index // 4:07d}",
        "user_id": f"user-{user:05d}",
    }
    # A new release every tenth of the day: later traces ran newer code.
    tags = {"feature": FEATURES[rnd.randrange(len(FEATURES))], "release": RELEASES[min(9, (at - T0) * 10 // DAY)]}
    request = f"Customer {user} asks about order #{rnd.randrange(10**6):06d}: where is my parcel?"
    response = None if in_progress else ("Sorry, something went wrong." if error else "It ships tomorrow morning.")
    return GenTrace(trace_id, at, spans, tags, metadata, request, response)


def _rows(trace: GenTrace, experiment_id: int, payload_root: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The `traces` row and `spans` rows of a generated trace, as the write path would leave them."""
    root = trace.spans[0]
    span_rows = []
    totals = [0, 0, 0.0, 0.0]
    for span in trace.spans:
        duration = None if span.end_ns is None else span.end_ns - span.start_ns
        tin, tout = span.tokens or (None, None)
        cin, cout = span.cost or (None, None)
        status = "ERROR" if span.error else ("UNSET" if span.end_ns is None else "OK")
        if span.tokens is not None and span.cost is not None:
            totals[0] += span.tokens[0]
            totals[1] += span.tokens[1]
            totals[2] += span.cost[0]
            totals[3] += span.cost[1]
        total_tokens = None if tin is None or tout is None else tin + tout
        total_cost = None if cin is None or cout is None else cin + cout
        span_rows.append(
            (
                trace.trace_id,
                span.span_id,
                experiment_id,
                span.parent_id,
                span.name,
                span.span_type,
                status,
                span.start_ns,
                span.end_ns,
                duration,
                span.model,
                tin,
                tout,
                total_tokens,
                cin,
                cout,
                total_cost,
                1 if span.tokens else 0,
            )
        )
    ends = [span.end_ns for span in trace.spans if span.end_ns is not None]
    duration_ms = None if root.end_ns is None else (root.end_ns - root.start_ns) // 1_000_000
    state = "IN_PROGRESS" if root.end_ns is None else ("ERROR" if root.error else "OK")
    trace_row = (
        trace.trace_id,
        experiment_id,
        trace.request_time,
        max(ends) // 1_000_000 if ends else None,
        duration_ms,
        state,
        root.name,
        root.span_id,
        trace.request_preview,
        trace.response_preview,
        trace.metadata["session_id"],
        trace.metadata["user_id"],
        totals[0],
        totals[1],
        totals[0] + totals[1],
        totals[2],
        totals[3],
        totals[2] + totals[3],
        len(trace.spans),
        f"{payload_root}/traces/{trace.trace_id}",
        trace.request_time + (duration_ms or 0),
    )
    return trace_row, span_rows


def to_batch(trace: GenTrace) -> TraceBatch:
    """The generated trace as the spans an exporter would send (for `write_batches`)."""
    spans = []
    for span in trace.spans:
        status = SpanStatus(StatusCode.ERROR, "tool failed") if span.error else SpanStatus(StatusCode.OK, "")
        is_root = span.parent_id is None
        spans.append(
            Span(
                trace_id=trace.trace_id,
                span_id=span.span_id,
                parent_id=span.parent_id,
                name=span.name,
                span_type=span.span_type,
                start_time_ns=span.start_ns,
                end_time_ns=span.end_ns,
                status=status if span.end_ns is not None else SpanStatus(StatusCode.UNSET, ""),
                inputs={"question": trace.request_preview} if is_root else {"step": span.name},
                outputs=trace.response_preview if is_root else {"result": f"{span.name} done", "items": [1, 2, 3]},
                attributes={"service.name": "support-agent"},
                model_name=span.model,
                token_usage=None if span.tokens is None else TokenUsage(*span.tokens, sum(span.tokens)),
                cost=None if span.cost is None else Cost(*span.cost, sum(span.cost)),
            )
        )
    counted = frozenset(span.span_id for span in trace.spans if span.tokens is not None)
    fields = TraceFields(
        tags=trace.tags,
        metadata=trace.metadata,
        request_preview=trace.request_preview,
        response_preview=trace.response_preview,
    )
    return TraceBatch(trace.trace_id, spans, fields, counted)


@dataclass(frozen=True)
class Dataset:
    """A built dataset: how to open it, and the traces whose payloads exist."""

    backend: str
    count: int
    database_url: str
    artifact_root: str
    experiment_id: str
    api_trace_ids: list[str]
    build_s: float | None  # None: taken from the cache

    def open(self) -> SqlTraceStore:
        return SqlTraceStore(self.database_url, self.artifact_root)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _marker(count: int) -> str:
    return f"{VERSION} {count} complete"


def _cached(database_url: str, artifact_root: str, count: int) -> Dataset | None:
    try:
        store = SqlTraceStore(database_url, artifact_root)
    except Exception:
        return None
    with store:
        experiment = store.get_experiment_by_name(EXPERIMENT)
        if experiment is None or experiment.tags.get(_MARKER) != _marker(count):
            return None
        if not Path(experiment.artifact_location).is_relative_to(artifact_root):
            return None  # built with another cache folder: its payloads are elsewhere
        ids = experiment.tags.get("bench.api_trace_ids", "").split(",")
        backend = store.dialect_name
        return Dataset(backend, count, database_url, artifact_root, experiment.experiment_id, ids, None)


def sqlite_dataset(count: int, rebuild: bool = False, cache: Path = CACHE) -> Dataset:
    """Return the SQLite dataset of `count` traces, building it unless cached."""
    folder = cache / f"sqlite-{VERSION}-{count}"
    url, artifacts = f"sqlite:///{folder / 'tracelake.db'}", str(folder / "artifacts")
    if not rebuild and (found := _cached(url, artifacts, count)) is not None:
        return found
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return _build(url, artifacts, count, _SqliteLoader(folder / "tracelake.db"))


def postgres_dataset(server_url: str, count: int, rebuild: bool = False, cache: Path = CACHE) -> Dataset:
    """Return the PostgreSQL dataset of `count` traces (database `tracelake_bench_<VERSION>_<count>`)."""
    import sqlalchemy as sa

    server = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"tracelake_bench_{VERSION}_{count}"
    url = server.set(database=name).render_as_string(hide_password=False)
    folder = cache / f"postgresql-{VERSION}-{count}"
    artifacts = str(folder / "artifacts")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists and not rebuild and (found := _cached(url, artifacts, count)) is not None:
                return found
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return _build(url, artifacts, count, _PostgresLoader(url))


def drop_postgres_datasets(server_url: str) -> None:
    """Drop every cached PostgreSQL dataset database on the server."""
    import sqlalchemy as sa

    admin = sa.create_engine(sa.make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            names = connection.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'tracelake_bench_v%'")
            ).scalars()
            for name in list(names):
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _build(url: str, artifacts: str, count: int, loader: _Loader) -> Dataset:
    started = time.perf_counter()
    with SqlTraceStore(url, artifacts) as store:  # creates and migrates the schema
        experiment = store.create_experiment(EXPERIMENT)
        experiment_id, location = experiment.experiment_id, experiment.artifact_location
    api_count = min(API_TRACES, count // 10)
    # Which traces go through the write API: spread evenly over the day.
    step = max(1, count // max(1, api_count))
    api_batches: list[TraceBatch] = []
    loader.drop_indexes()
    rows_done = 0
    for index, trace in enumerate(generate(count)):
        if api_count and index % step == step // 2 and len(api_batches) < api_count:
            api_batches.append(to_batch(trace))
            continue
        trace_row, span_rows = _rows(trace, int(experiment_id), location)
        loader.add(trace_row, span_rows, trace.tags, trace.metadata)
        rows_done += 1
        if rows_done % 200_000 == 0:
            _log(f"  {loader.backend}: {rows_done:,} traces loaded ({time.perf_counter() - started:.0f} s)")
    loader.finish()
    _log(f"  {loader.backend}: rows loaded in {time.perf_counter() - started:.0f} s; rebuilding indexes")
    loader.create_indexes()
    with SqlTraceStore(url, artifacts) as store:
        for start in range(0, len(api_batches), 100):
            store.write_batches(experiment_id, api_batches[start : start + 100])
        store.set_experiment_tag(experiment_id, "bench.api_trace_ids", ",".join(b.trace_id for b in api_batches))
        loader.analyze()
        store.set_experiment_tag(experiment_id, _MARKER, _marker(count))
    build_s = time.perf_counter() - started
    _log(f"  {loader.backend}: {count:,} traces built in {build_s:.0f} s")
    return Dataset(loader.backend, count, url, artifacts, experiment_id, [b.trace_id for b in api_batches], build_s)


class _Loader:
    backend = ""

    def __init__(self) -> None:
        self.traces: list[tuple[Any, ...]] = []
        self.spans: list[tuple[Any, ...]] = []
        self.tags: list[tuple[str, str, str]] = []
        self.metadata: list[tuple[str, str, str]] = []
        self.index_sql: list[str] = []

    def add(
        self, trace_row: tuple[Any, ...], span_rows: list[tuple[Any, ...]], tags: dict[str, str], meta: dict[str, str]
    ) -> None:
        trace_id = trace_row[0]
        self.traces.append(trace_row)
        self.spans.extend(span_rows)
        self.tags.extend((trace_id, key, value) for key, value in tags.items())
        self.metadata.extend((trace_id, key, value) for key, value in meta.items())
        if len(self.traces) >= 50_000:
            self.flush()

    def flush(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        self.flush()

    def drop_indexes(self) -> None:
        raise NotImplementedError

    def create_indexes(self) -> None:
        raise NotImplementedError

    def analyze(self) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        self.traces.clear()
        self.spans.clear()
        self.tags.clear()
        self.metadata.clear()


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class _SqliteLoader(_Loader):
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA synchronous = OFF")
        self.connection.execute("PRAGMA cache_size = -1000000")  # 1 GB: the primary keys' B-trees stay in memory

    def drop_indexes(self) -> None:
        tables = ", ".join(f"'{name}'" for name in _BULK_TABLES)
        found = self.connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({tables})"
        ).fetchall()
        self.index_sql = [sql for _, sql in found]
        for name, _ in found:
            self.connection.execute(f'DROP INDEX "{name}"')

    def flush(self) -> None:
        connection = self.connection
        connection.execute("BEGIN")
        connection.executemany(_insert("traces", TRACE_COLUMNS), self.traces)
        connection.executemany(_insert("spans", SPAN_COLUMNS), self.spans)
        connection.executemany("INSERT INTO trace_tags (trace_id, key, value) VALUES (?, ?, ?)", self.tags)
        connection.executemany("INSERT INTO trace_metadata (trace_id, key, value) VALUES (?, ?, ?)", self.metadata)
        connection.execute("COMMIT")
        self._clear()

    def create_indexes(self) -> None:
        for sql in self.index_sql:
            self.connection.execute(sql)
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def analyze(self) -> None:
        # No ANALYZE: the store never runs it, so the planner works without statistics, as for users.
        self.connection.close()


class _PostgresLoader(_Loader):
    backend = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__()
        self.connection = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        # Skip the foreign-key triggers during the load (every row references a trace loaded just
        # before it); needs a superuser, which the benchmark's throwaway server has.
        self.connection.execute("SET session_replication_role = replica")
        self.connection.execute("SET maintenance_work_mem = '512MB'")

    def drop_indexes(self) -> None:
        found = self.connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public'"
            " AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (list(_BULK_TABLES),),
        ).fetchall()
        self.index_sql = [sql for _, sql in found]
        for name, _ in found:
            self.connection.execute(f'DROP INDEX "{name}"')

    def flush(self) -> None:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            for table, columns, rows in (
                ("traces", TRACE_COLUMNS, self.traces),
                ("spans", SPAN_COLUMNS, self.spans),
                ("trace_tags", ("trace_id", "key", "value"), self.tags),
                ("trace_metadata", ("trace_id", "key", "value"), self.metadata),
            ):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        self._clear()

    def create_indexes(self) -> None:
        for sql in self.index_sql:
            self.connection.execute(sql)

    def analyze(self) -> None:
        # What autovacuum would have done by the time a dashboard looks.
        self.connection.execute("VACUUM ANALYZE")
        self.connection.close()
