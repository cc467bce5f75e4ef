"""The remote sink on its own: deliver, spool while the server is away, drain in order when it is back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracelake._remote import DeliveryReport, RemoteSink, spool_folder
from tracelake.model import SpanRecord
from tracelake.tracing import ExperimentRef
from tracelake.tracing.export.otlp_http import OtlpHttpSender
from tracelake.tracing.export.spool import DiskSpool

from .otlp_server import OtlpRecorder, Reply, plain

TRACE = "0af7651916cd43dd8448eb211c80319c"
T0 = 1_750_000_000_000_000_000
EXPERIMENT = ExperimentRef(name="support-agent")


def records(*names: str) -> list[SpanRecord]:
    return [SpanRecord(TRACE, f"{abs(hash(n)) % (1 << 63) + 1:016x}", None, n, T0, T0 + 1_000) for n in names]


@pytest.fixture
def server() -> Iterator[OtlpRecorder]:
    recorder = OtlpRecorder().start()
    yield recorder
    recorder.hold.set()
    recorder.stop()


class Sinks:
    def __init__(self, server: OtlpRecorder, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self.made: list[RemoteSink] = []

    def __call__(self, max_bytes: int | None = 1_000_000, **kwargs: object) -> RemoteSink:
        sender = OtlpHttpSender(
            self.server.url + "/v1/traces",
            max_attempts=2,
            initial_backoff_s=0.01,
            max_backoff_s=0.02,
            max_retry_after_s=0.5,
            timeout_s=5,
        )
        spool = None if max_bytes is None else DiskSpool(self.folder, max_bytes)
        options: dict[str, object] = {"initial_backoff_s": 0.05, "max_backoff_s": 0.2, "idle_poll_s": 0.2}
        options.update(kwargs)
        sink = RemoteSink(sender, spool, **options)  # type: ignore[arg-type]
        self.made.append(sink)
        return sink


@pytest.fixture
def make_sink(server: OtlpRecorder, tmp_path: Path) -> Iterator[Sinks]:
    sinks = Sinks(server, tmp_path / "spool")
    yield sinks
    for sink in sinks.made:
        sink.shutdown()


def spooled_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.otlp")) if folder.exists() else []


def test_a_healthy_server_acknowledges_and_nothing_touches_the_disk(server: OtlpRecorder, make_sink: Sinks) -> None:
    sink = make_sink()
    assert sink.export(EXPERIMENT, records("a", "b")) == DeliveryReport(acknowledged=2)
    assert server.accepted_names() == ["a", "b"]
    assert server.received[0].headers["x-tracelake-experiment-name"] == "support-agent"
    assert not make_sink.folder.exists()


def test_the_experiment_travels_as_id_header_or_as_a_resource_attribute(server: OtlpRecorder, make_sink: Sinks) -> None:
    sink = make_sink()
    sink.export(ExperimentRef(experiment_id="17", name="ignored"), records("by-id"))
    sink.export(ExperimentRef(name="agent de réservation"), records("by-name"))
    sink.export(ExperimentRef(), records("default"))
    by_id, by_name, default = server.received
    assert by_id.headers["x-tracelake-experiment-id"] == "17"
    assert "x-tracelake-experiment-name" not in by_id.headers
    # Not ASCII: cannot be an HTTP header, so it rides in the resource (the server reads both).
    assert "x-tracelake-experiment-name" not in by_name.headers
    resource = {kv.key: plain(kv.value) for kv in by_name.request.resource_spans[0].resource.attributes}
    assert resource["tracelake.experiment.name"] == "agent de réservation"
    assert not any(h.startswith("x-tracelake-experiment") for h in default.headers)


def test_spans_are_spooled_while_the_server_is_down_and_drained_in_order(
    server: OtlpRecorder, make_sink: Sinks
) -> None:
    server.stop()
    sink = make_sink()
    reports = [sink.export(EXPERIMENT, records(f"b{i}-1", f"b{i}-2")) for i in range(3)]
    assert reports == [DeliveryReport(acknowledged=0, spooled=2)] * 3
    assert len(spooled_files(make_sink.folder)) == 3
    server.start()
    # A batch exported while older ones wait on disk queues behind them.
    assert sink.export(EXPERIMENT, records("b3-1")) == DeliveryReport(acknowledged=0, spooled=1)
    server.wait_for_spans(7)
    assert server.accepted_names() == ["b0-1", "b0-2", "b1-1", "b1-2", "b2-1", "b2-2", "b3-1"]
    assert all(r.headers["x-tracelake-experiment-name"] == "support-agent" for r in server.accepted())
    server.wait_for(lambda _: sink.stats().spool_batches == 0 and not spooled_files(make_sink.folder))
    stats = sink.stats()
    assert (stats.spooled, stats.drained, stats.rejected) == (7, 7, 0)
    # Back to normal: the next batch goes straight to the server.
    assert sink.export(EXPERIMENT, records("after")) == DeliveryReport(acknowledged=1)


def test_while_spooling_the_exporter_does_not_knock_on_the_server(server: OtlpRecorder, make_sink: Sinks) -> None:
    server.replies = [Reply(503, {"Retry-After": "3600"})]
    sink = make_sink()
    assert sink.export(EXPERIMENT, records("first")).spooled == 1
    for i in range(5):
        assert sink.export(EXPERIMENT, records(f"more{i}")).spooled == 1
    assert len(server.received) == 1  # the server asked for an hour of quiet, and gets it
    assert len(spooled_files(make_sink.folder)) == 6


def test_the_drain_honours_retry_after(server: OtlpRecorder, make_sink: Sinks) -> None:
    server.replies = [Reply(429, {"Retry-After": "1"}), Reply(429, {"Retry-After": "1"})]
    sink = make_sink()
    report = sink.export(EXPERIMENT, records("x"))
    assert report.spooled == 1
    server.wait_for_spans(1)
    attempts = server.received
    assert [r.status for r in attempts] == [429, 429, 200]
    assert attempts[2].at - attempts[1].at >= 0.95


def test_the_spool_is_drained_by_the_next_process(server: OtlpRecorder, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    server.stop()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tracelake._remote import RemoteSink\n"
        "from tracelake.model import SpanRecord\n"
        "from tracelake.tracing import ExperimentRef\n"
        "from tracelake.tracing.export.otlp_http import OtlpHttpSender\n"
        "from tracelake.tracing.export.spool import DiskSpool\n"
        "sink = RemoteSink(OtlpHttpSender(sys.argv[1], max_attempts=1), DiskSpool(Path(sys.argv[2]), 10**6),"
        " shutdown_drain_s=0)\n"
        "for i in range(3):\n"
        "    span = SpanRecord('0af7651916cd43dd8448eb211c80319c', f'{i + 1:016x}', None, f'old{i}', 1, 2)\n"
        "    assert sink.export(ExperimentRef(name='e'), [span]).spooled == 1\n"
        "sink.shutdown()\n"
    )
    subprocess.run([sys.executable, "-c", code, server.url + "/v1/traces", str(folder)], check=True, timeout=60)
    assert len(spooled_files(folder)) == 3
    server.start()
    sink = RemoteSink(
        OtlpHttpSender(server.url + "/v1/traces"), DiskSpool(folder, 10**6), initial_backoff_s=0.05, idle_poll_s=0.2
    )
    try:
        server.wait_for_spans(3)
        assert server.accepted_names() == ["old0", "old1", "old2"]
        server.wait_for(lambda _: not spooled_files(folder))
    finally:
        sink.shutdown()


def test_refusals_during_the_drain_do_not_block_the_queue(server: OtlpRecorder, make_sink: Sinks) -> None:
    server.stop()
    sink = make_sink()
    sink.export(EXPERIMENT, records("poison"))
    sink.export(EXPERIMENT, records("fine"))
    server.replies = [Reply(400)]
    server.start()
    server.wait_for_spans(1)
    server.wait_for(lambda _: sink.stats().spool_batches == 0)
    assert [r.span_names for r in server.received] == [["poison"], ["fine"]]
    assert sink.stats().rejected == 1


def test_without_a_spool_undeliverable_spans_are_counted_lost(server: OtlpRecorder, make_sink: Sinks) -> None:
    server.stop()
    sink = make_sink(max_bytes=None)
    assert sink.export(EXPERIMENT, records("a", "b")) == DeliveryReport(acknowledged=0, spooled=0, rejected=2)


def test_a_full_spool_drops_and_counts_new_batches(server: OtlpRecorder, make_sink: Sinks) -> None:
    server.stop()
    sink = make_sink(max_bytes=400)
    assert sink.export(EXPERIMENT, records("fits")).spooled == 1
    report = sink.export(EXPERIMENT, records(*[f"big{i}" for i in range(20)]))
    assert report == DeliveryReport(acknowledged=0, spooled=0, rejected=20)
    assert sink.stats().spool_refused == 20


def test_shutdown_sends_what_is_spooled_when_the_server_is_up(server: OtlpRecorder, make_sink: Sinks) -> None:
    server.replies = [Reply(503, {"Retry-After": "3600"})]
    sink = make_sink()
    assert sink.export(EXPERIMENT, records("late")).spooled == 1
    sink.shutdown()  # the drain thread would wait an hour; shutdown tries once more, briefly
    assert server.accepted_names() == ["late"]
    assert not spooled_files(make_sink.folder)


def test_each_server_has_its_own_spool_folder(tmp_path: Path) -> None:
    a = spool_folder(tmp_path, "http://10.0.0.1:5000")
    b = spool_folder(tmp_path, "http://10.0.0.2:5000")
    assert a != b
    assert a.parent == tmp_path
    assert a.name.startswith("10.0.0.1_5000-")
    assert spool_folder(tmp_path, "http://10.0.0.1:5000") == a
