"""OTLP ingest throughput of a real `tracelake server` against `mlflow server`, the same traces (issue 3).

Traces of 10 spans (an agent root, a chain, retrieval, tools and LLM calls with token usage, session
and user metadata), 512 spans per OTLP/HTTP protobuf request (traces straddle requests, as with a
real exporter), `--senders` concurrent senders (threads, one HTTP connection each), on loopback. A
sender waits the `Retry-After` of a 429 and sends again; spans/s counts acknowledged spans over the
wall time of the timed requests, after 4 warm-up requests. Each run also reports the server's CPU
time (user + system, all its processes and threads, from /proc) per span over the timed requests:
on a machine shared with other work, it is the figure to compare between runs.

- tracelake: `tracelake server` (embedded SQLite store in a temp folder, and with `--postgres` a
  throwaway PostgreSQL database), the bodies posted to `/v1/traces` with the experiment header.
  SQLite runs once per `--workers` count (default 1 and 2 server processes, which share the port
  and the database file); PostgreSQL and the overrun run use the first count.
- MLflow: `mlflow server` from this interpreter's environment (MLflow 3), a SQLite backend in a temp
  folder, once per `--mlflow-workers` count (default 1 worker, then MLflow's own default of 4). The
  traces go through MLflow's own client: its `TracingClient.log_spans(experiment_id, spans)`, which
  is what MLflow's span exporter (`MlflowV3SpanExporter`) calls for every batch it sends to a
  tracking server — it serialises the spans to OTLP protobuf and POSTs them to the server's
  `/v1/traces` with `x-mlflow-experiment-id`. The same protobuf spans are turned into MLflow `Span`
  objects beforehand (`Span.from_otel_proto`, untimed), so the timed part is the client's
  serialisation and the server's ingest. The spans MLflow stored are counted in its database
  afterwards.
- Overrun: `--overrun-senders` senders (default 32, twice the server's ingest queue) post as
  fast as they can to a tracelake server (SQLite), waiting only 50 ms after a 429 instead of the
  `Retry-After` second; reports the 429s and the server's peak RSS, against its RSS after the
  warm-up — bounded memory means many 429s and a peak close to the normal run's. A request that
  fails outright (no answer within 60 s, a dropped connection) is counted as status 0 and sent again.

The server's resident memory is sampled every 50 ms from /proc. Usage:
python benchmarks/bench_ingest.py [--quick] [--json out.json] [--requests N] [--mlflow-requests N]
[--senders K] [--postgres URL] [--no-mlflow] [--mlflow-workers W [W ...]] [--overrun-senders K]
[--workers W [W ...]] [--dir PARENT]
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _bench import emit, parser, table, verdict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SPANS_PER_REQUEST = 512
TARGET_SPANS_PER_S = 20_000
TARGET_RATIO = 20.0
_T0_NS = 1_764_000_000_000_000_000
_TYPES = ("AGENT", "CHAIN", "RETRIEVER", "TOOL", "LLM")
_QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_TRACKING_TELEMETRY": "false"}


def _kv(key: str, value: Any) -> common_pb2.KeyValue:
    if isinstance(value, str):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(int_value=value))


def _trace_spans(index: int, rng: random.Random) -> list[trace_pb2.Span]:
    """One agent request: a root, a chain, retrieval, tools and an LLM call with token usage."""
    trace_id, ids = rng.randbytes(16), [rng.randbytes(8) for _ in range(10)]
    spans = []
    for j in range(10):
        attributes = [
            _kv("tracelake.span.type", _TYPES[j % 5]),
            _kv("tracelake.span.inputs", json.dumps({"question": f"where is order {index}-{j}?", "k": j})),
            _kv("tracelake.span.outputs", json.dumps({"answer": "It ships tomorrow " * 3})),
        ]
        if j % 5 == 4:
            attributes += [
                _kv("gen_ai.request.model", "gpt-4o-mini"),
                _kv("gen_ai.usage.input_tokens", 120),
                _kv("gen_ai.usage.output_tokens", 40),
            ]
        if j == 0:
            metadata = {"session_id": f"s-{index % 50}", "user_id": f"u-{index % 20}", "environment": "production"}
            attributes.append(_kv("tracelake.trace.metadata", json.dumps(metadata)))
        start = _T0_NS + index * 10_000_000 + j * 100_000
        spans.append(
            trace_pb2.Span(
                trace_id=trace_id,
                span_id=ids[j],
                parent_span_id=b"" if j == 0 else ids[0 if j < 5 else 4],
                name=f"step_{j}",
                kind=1,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 50_000 * (10 - j),
                attributes=attributes,
                status=trace_pb2.Status(code=1),
            )
        )
    return spans


def request_bodies(count: int, seed: int) -> list[bytes]:
    """OTLP protobuf bodies of 512 spans; traces may straddle requests, as with a real exporter."""
    rng, bodies, index = random.Random(seed), [], 0
    resource = resource_pb2.Resource(attributes=[_kv("service.name", "support-agent")])
    for _ in range(count):
        spans: list[trace_pb2.Span] = []
        while len(spans) < SPANS_PER_REQUEST:
            spans += _trace_spans(index, rng)
            index += 1
        scope = trace_pb2.ScopeSpans(spans=spans[:SPANS_PER_REQUEST])
        request = ExportTraceServiceRequest(
            resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[scope])]
        )
        bodies.append(request.SerializeToString())
    return bodies


def _wait_health(url: str, process: subprocess.Popen[Any], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode} before answering")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not answer /health within {timeout:.0f} s")


@contextmanager
def tracelake_server(home: str, database: str | None, workers: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A `tracelake server` subprocess on a free loopback port: (process, base URL)."""
    command = [sys.executable, "-m", "tracelake.cli", "--home", home, "server", "--port", "0"]
    command += ["--workers", str(workers)] + (["--database", database] if database else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        match = re.search(r"listening on (\S+)", process.stdout.readline())
        if match is None:
            raise SystemExit("the tracelake server did not start")
        url = match.group(1)
        _drain(process.stdout)
        _wait_health(url, process, "the tracelake server")
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def _drain(stream: Any) -> None:
    """Read (and drop) the rest of a server's output: a full pipe would block the server's logging."""
    threading.Thread(target=lambda: stream.read(), daemon=True).start()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_server(folder: Path, workers: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """An `mlflow server` subprocess (this environment's MLflow, SQLite backend, `workers` processes)."""
    mlflow = Path(sys.executable).with_name("mlflow")
    port = _free_port()
    command = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    command += ["--default-artifact-root", str(folder / "artifacts")]
    log = open(folder / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **_QUIET})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_health(url, process, "mlflow server", timeout=180)
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()


class RssSampler:
    """Samples a process tree's resident memory (the server and its workers) every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current_kib(self) -> int:
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += int(status.split("VmRSS:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                pass
        return total

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak_kib = max(self.peak_kib, self.current_kib())
            self._done.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process tree: the server and its workers, every thread."""
    ticks = 0
    for member in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(child) for child in text]
        return found + [grandchild for child in found for grandchild in _children(child)]
    except OSError:
        return []


def send_all(
    parts: list[list[Any]], post: Callable[[Any], tuple[int, float]], backoff: Callable[[int, float], float]
) -> tuple[float, dict[int, int]]:
    """Send every item of every part (one thread per part) until accepted; (wall seconds, statuses)."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(part: list[Any]) -> None:
        for item in part:
            while True:
                try:
                    status, retry_after = post(item)
                except httpx.HTTPError:  # a timeout or a dropped connection: counted as status 0, sent again
                    status, retry_after = 0, 0.1
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    break
                time.sleep(backoff(status, retry_after))

    threads = [threading.Thread(target=run, args=(part,)) for part in parts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def _otlp_poster(url: str) -> tuple[Callable[[bytes], tuple[int, float]], Callable[[], None]]:
    """A poster of OTLP bodies with one HTTP connection per thread."""
    headers = {"content-type": "application/x-protobuf", "x-tracelake-experiment-name": "bench"}
    local = threading.local()
    clients: list[httpx.Client] = []

    def post(body: bytes) -> tuple[int, float]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=60)
            clients.append(client)
        response = client.post(url + "/v1/traces", content=body, headers=headers)
        return response.status_code, float(response.headers.get("retry-after", "0.1"))

    def close() -> None:
        for client in clients:
            client.close()

    return post, close


def bench_tracelake(
    label: str, database: str | None, bodies: list[bytes], senders: int, workers: int, parent: str | None
) -> dict[str, Any]:
    warm_up, timed = bodies[:4], bodies[4:]
    with (
        tempfile.TemporaryDirectory(dir=parent, prefix="bench-ingest-") as home,
        tracelake_server(home, database, workers) as (process, url),
    ):
        post, close = _otlp_poster(url)
        try:
            for body in warm_up:
                if post(body)[0] != 200:
                    raise SystemExit("the tracelake server refused a warm-up request")
            with RssSampler(process.pid) as rss:
                idle_kib = rss.current_kib()
                cpu_before = cpu_seconds(process.pid)
                elapsed, statuses = send_all([timed[k::senders] for k in range(senders)], post, lambda _s, after: after)
                cpu = cpu_seconds(process.pid) - cpu_before
        finally:
            close()
    spans = len(timed) * SPANS_PER_REQUEST
    result = {"system": "tracelake", "store": label, "spans": spans, "seconds": elapsed, "spans_per_s": spans / elapsed}
    result |= {"statuses": statuses, "rss_start_mib": idle_kib / 1024, "rss_peak_mib": rss.peak_kib / 1024}
    result |= {"workers": workers, "server_cpu_us_per_span": cpu / spans * 1e6}
    print(
        f"  tracelake {label} ({workers} worker{'s' if workers > 1 else ''}): {spans / elapsed:,.0f} spans/s,"
        f" server CPU {cpu / spans * 1e6:.1f} µs/span, statuses {statuses}, peak {rss.peak_kib / 1024:.0f} MiB",
        file=sys.stderr,
    )
    return result


def bench_overrun(bodies: list[bytes], senders: int, workers: int, parent: str | None) -> dict[str, Any]:
    """Senders that outrun the server: they retry 50 ms after a 429, ignoring Retry-After."""
    warm_up, timed = bodies[:4], bodies[4:]
    with (
        tempfile.TemporaryDirectory(dir=parent, prefix="bench-ingest-") as home,
        tracelake_server(home, None, workers) as (process, url),
    ):
        post, close = _otlp_poster(url)
        try:
            for body in warm_up:
                post(body)
            with RssSampler(process.pid) as rss:
                idle_kib = rss.current_kib()
                elapsed, statuses = send_all([timed[k::senders] for k in range(senders)], post, lambda _s, _a: 0.05)
        finally:
            close()
    spans = len(timed) * SPANS_PER_REQUEST
    result = {
        "senders": senders,
        "workers": workers,
        "spans": spans,
        "seconds": elapsed,
        "spans_per_s": spans / elapsed,
        "statuses": statuses,
    }
    result |= {"rss_start_mib": idle_kib / 1024, "rss_peak_mib": rss.peak_kib / 1024}
    print(f"  overrun ({senders} senders): statuses {statuses}, peak {rss.peak_kib / 1024:.0f} MiB", file=sys.stderr)
    return result


def bench_mlflow(bodies: list[bytes], senders: int, parent: str | None, workers: int) -> dict[str, Any]:
    os.environ.update(_QUIET)
    import mlflow
    from mlflow.entities import Span as MlflowSpan
    from mlflow.tracing.client import TracingClient

    batches = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        resource_spans = request.resource_spans[0]
        spans = resource_spans.scope_spans[0].spans
        batches.append([MlflowSpan.from_otel_proto(span, resource=resource_spans.resource) for span in spans])
    warm_up, timed = batches[:4], batches[4:]
    with (
        tempfile.TemporaryDirectory(dir=parent, prefix="bench-ingest-mlflow-") as folder,
        mlflow_server(Path(folder), workers) as (process, url),
    ):
        experiment_id = mlflow.MlflowClient(tracking_uri=url).create_experiment(f"bench-{uuid.uuid4().hex[:6]}")
        client = TracingClient(tracking_uri=url)
        errors: list[str] = []

        def post(spans: list[Any]) -> tuple[int, float]:
            try:
                client.log_spans(experiment_id, spans)
                return 200, 0.0
            except Exception as exc:
                errors.append(str(exc)[:200])
                return 500, 0.1

        for spans in warm_up:
            client.log_spans(experiment_id, spans)
        with RssSampler(process.pid) as rss:
            idle_kib = rss.current_kib()
            cpu_before = cpu_seconds(process.pid)
            elapsed, statuses = send_all([timed[k::senders] for k in range(senders)], post, lambda _s, after: after)
            cpu = cpu_seconds(process.pid) - cpu_before
        stored = _count_mlflow_spans(Path(folder) / "mlflow.db")
    spans = len(timed) * SPANS_PER_REQUEST
    result = {"system": "MLflow", "store": "SQLite", "spans": spans, "seconds": elapsed, "spans_per_s": spans / elapsed}
    result |= {"statuses": statuses, "rss_start_mib": idle_kib / 1024, "rss_peak_mib": rss.peak_kib / 1024}
    result |= {"workers": workers, "server_cpu_us_per_span": cpu / spans * 1e6}
    result |= {"stored_spans": stored, "expected_spans": len(bodies) * SPANS_PER_REQUEST, "errors": errors[:3]}
    result["version"] = mlflow.__version__
    print(
        f"  MLflow ({workers} workers): {spans / elapsed:,.0f} spans/s, statuses {statuses}, stored {stored:,}",
        file=sys.stderr,
    )
    return result


def _count_mlflow_spans(path: Path) -> int | None:
    try:
        with sqlite3.connect(path) as connection:
            return int(connection.execute("SELECT count(*) FROM spans").fetchone()[0])
    except sqlite3.Error:
        return None


def _postgres_database(server_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    server = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"tracelake_ingest_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


postgres_database = contextmanager(_postgres_database)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "### OTLP ingest: tracelake server vs mlflow server",
        "",
        f"10-span traces, {SPANS_PER_REQUEST} spans per request, {result['senders']} concurrent senders, on loopback."
        " tracelake: bodies posted to `/v1/traces`, by one server process or by several (`--workers`) sharing the"
        " port and the store; MLflow: its own client (`TracingClient.log_spans`, what its span exporter calls) to"
        " `mlflow server` (SQLite backend; 1 worker, and its default of 4). *Server CPU* is the user + system time"
        " of the server's processes during the timed requests, per span: it moves much less than spans/s when other"
        " work shares the machine.",
        "",
    ]
    rows = []
    for run in result["runs"]:
        stored = f"{run['stored_spans']:,} of {run['expected_spans']:,}" if "stored_spans" in run else "-"
        rows.append(
            [
                run["system"] + (f" {run['version']}" if "version" in run else ""),
                run["store"],
                str(run.get("workers", 1)),
                f"{run['spans']:,}",
                f"{run['seconds']:.2f}",
                f"**{run['spans_per_s']:,.0f}**",
                f"{run['server_cpu_us_per_span']:.1f}" if "server_cpu_us_per_span" in run else "-",
                ", ".join(f"{k} x {v}" for k, v in sorted(run["statuses"].items(), key=lambda kv: int(kv[0]))),
                f"{run['rss_start_mib']:.0f} → {run['rss_peak_mib']:.0f}",
                stored,
            ]
        )
    lines.append(
        table(
            [
                "server",
                "store",
                "server processes",
                "spans timed",
                "s",
                "spans/s",
                "server CPU µs/span",
                "HTTP statuses",
                "RSS MiB (start → peak)",
                "spans stored (MLflow db)",
            ],
            rows,
        )
    )
    overrun = result.get("overrun")
    if overrun:
        statuses = ", ".join(f"{k} x {v}" for k, v in sorted(overrun["statuses"].items(), key=lambda kv: int(kv[0])))
        lines += [
            "",
            f"Overrun: {overrun['senders']} senders retrying 50 ms after a 429 into tracelake (SQLite):"
            f" {overrun['spans_per_s']:,.0f} spans/s, statuses {statuses}, server RSS"
            f" {overrun['rss_start_mib']:.0f} → {overrun['rss_peak_mib']:.0f} MiB.",
        ]
    lines += ["", *(f"- {line}" for line in targets(result))]
    return "\n".join(lines)


def targets(result: dict[str, Any]) -> list[str]:
    """The issue's ingest targets, one line each."""
    tracelake = [run for run in result["runs"] if run["system"] == "tracelake"]
    sqlite_runs = [run for run in tracelake if run["store"] == "SQLite"]
    mlflow_runs = [run for run in result["runs"] if run["system"] == "MLflow"]
    found = []
    for run in sqlite_runs:
        rate, workers = run["spans_per_s"], run.get("workers", 1)
        how = f"SQLite, {workers} server process{'es' if workers > 1 else ''}"
        found.append(f"≥ {TARGET_SPANS_PER_S:,} spans/s ({how}): {rate:,.0f} → {verdict(rate >= TARGET_SPANS_PER_S)}")
        for mlflow_run in mlflow_runs:
            ratio = rate / mlflow_run["spans_per_s"]
            met = verdict(ratio >= TARGET_RATIO)
            mlflow_workers = mlflow_run.get("workers", 1)
            against = f"MLflow with {mlflow_workers} worker{'s' if mlflow_workers > 1 else ''}"
            found.append(f"≥ {TARGET_RATIO:.0f}x MLflow's rate ({how}, against {against}): {ratio:.1f}x → {met}")
    overrun = result.get("overrun")
    if overrun:
        # The overrun run uses the first `--workers` count: compare with the normal run of the same count.
        same = [run for run in sqlite_runs if run.get("workers", 1) == overrun.get("workers", 1)]
        normal = same[0]["rss_peak_mib"] if same else None
        # Status codes are ints in the run and strings once the result went through JSON (report.py).
        refused = overrun["statuses"].get(429, overrun["statuses"].get("429", 0))
        bounded = refused > 0 and (normal is None or overrun["rss_peak_mib"] < 2 * normal)
        found.append(
            f"memory bounded under an overrunning sender (429s answered, peak RSS under twice the normal run's):"
            f" {refused:,} x 429, {overrun['rss_peak_mib']:.0f} MiB → {verdict(bounded)}"
        )
    return found


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--requests", type=int, default=300, help="timed requests per tracelake run")
    arguments.add_argument("--mlflow-requests", type=int, default=40, help="timed requests to MLflow")
    arguments.add_argument("--senders", type=int, default=4)
    arguments.add_argument("--postgres", help="PostgreSQL server URL: also ingest into a throwaway database there")
    arguments.add_argument("--database", help="(older spelling of --postgres with a database URL)")
    arguments.add_argument("--no-mlflow", action="store_true")
    arguments.add_argument(
        "--mlflow-workers",
        type=int,
        nargs="+",
        default=[1, 4],
        help="mlflow server processes: one MLflow run per count (4 is its own default)",
    )
    arguments.add_argument("--overrun-senders", type=int, default=32, help="0 skips the overrun run")
    arguments.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="server processes: one SQLite run per count; PostgreSQL and the overrun use the first",
    )
    arguments.add_argument("--dir", help="parent folder of the servers' temp folders")
    options = arguments.parse_args()
    requests = 40 if options.quick else options.requests
    mlflow_requests = 8 if options.quick else options.mlflow_requests
    bodies = request_bodies(requests + 4, seed=1)
    first = options.workers[0]
    runs = [bench_tracelake("SQLite", None, bodies, options.senders, count, options.dir) for count in options.workers]
    postgres = options.postgres or options.database
    if postgres:
        with postgres_database(postgres) as url:
            runs.append(bench_tracelake("PostgreSQL", url, bodies, options.senders, first, options.dir))
    if not options.no_mlflow:
        runs += [
            bench_mlflow(bodies[: mlflow_requests + 4], options.senders, options.dir, count)
            for count in options.mlflow_workers
        ]
    result: dict[str, Any] = {"senders": options.senders, "runs": runs}
    if options.overrun_senders:
        overrun_bodies = request_bodies((requests if options.quick else requests // 2) + 4, seed=2)
        result["overrun"] = bench_overrun(overrun_bodies, options.overrun_senders, first, options.dir)
    emit(result, options.json, markdown)


if __name__ == "__main__":
    main()
