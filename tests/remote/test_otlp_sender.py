from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracelake.model import SpanRecord
from tracelake.tracing.export.otlp_encode import EncodedBatch, encode_records
from tracelake.tracing.export.otlp_http import OtlpHttpSender, parse_retry_after

from .otlp_server import OtlpRecorder, Reply

TRACE = "0af7651916cd43dd8448eb211c80319c"


def batch(count: int, prefix: str = "s") -> EncodedBatch:
    records = [
        SpanRecord(TRACE, f"{i + 1:016x}", None, f"{prefix}{i}", 1_750_000_000_000_000_000, 1_750_000_000_100_000_000)
        for i in range(count)
    ]
    return encode_records(records)


@pytest.fixture
def server() -> Iterator[OtlpRecorder]:
    recorder = OtlpRecorder().start()
    yield recorder
    recorder.hold.set()
    recorder.stop()


def sender_for(server: OtlpRecorder, **kwargs: object) -> OtlpHttpSender:
    options: dict[str, object] = {"initial_backoff_s": 0.01, "max_backoff_s": 0.05}
    options.update(kwargs)
    return OtlpHttpSender(server.url + "/v1/traces", **options)  # type: ignore[arg-type]


def test_posts_gzipped_protobuf_with_headers(server: OtlpRecorder) -> None:
    sender = sender_for(server, headers={"Authorization": "Bearer s3cret"})
    result = sender.send(batch(3), {"x-tracelake-experiment-name": "support-agent"})
    sender.close()
    assert (result.acknowledged, result.rejected, result.pending) == (3, 0, [])
    (received,) = server.received
    assert received.span_names == ["s0", "s1", "s2"]
    assert received.headers["content-type"] == "application/x-protobuf"
    assert received.headers["content-encoding"] == "gzip"
    assert received.headers["authorization"] == "Bearer s3cret"
    assert received.headers["x-tracelake-experiment-name"] == "support-agent"
    assert received.headers["user-agent"].startswith("tracelake/")


def test_transient_failures_are_retried_until_accepted(server: OtlpRecorder) -> None:
    server.replies = [Reply(503), Reply(502), Reply(200)]
    sender = sender_for(server, max_attempts=3)
    result = sender.send(batch(2), {})
    sender.close()
    assert (result.acknowledged, result.pending) == (2, [])
    assert [r.status for r in server.received] == [503, 502, 200]
    assert all(r.span_names == ["s0", "s1"] for r in server.received)


def test_retry_after_is_honoured_before_the_next_attempt(server: OtlpRecorder) -> None:
    server.replies = [Reply(429, {"Retry-After": "1"})]
    sender = sender_for(server)
    result = sender.send(batch(1), {})
    sender.close()
    assert result.acknowledged == 1
    first, second = server.received
    assert first.status == 429
    assert second.at - first.at >= 0.95  # a lower bound the server asked for, not a speed claim


def test_a_long_retry_after_is_handed_back_instead_of_waited_for(server: OtlpRecorder) -> None:
    server.replies = [Reply(503, {"Retry-After": "120"})]
    sender = sender_for(server, max_retry_after_s=5)
    result = sender.send(batch(2), {})
    sender.close()
    assert result.acknowledged == 0
    assert result.pending_spans == 2
    assert result.retry_after == 120
    assert "503" in (result.error or "")
    assert len(server.received) == 1


def test_client_errors_are_permanent_not_retried_and_logged_once(
    server: OtlpRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    error = b'{"error": {"code": "INVALID_ARGUMENT", "message": "bad spans"}}'
    server.replies = [Reply(400, body=error), Reply(400, body=error)]
    sender = sender_for(server)
    first = sender.send(batch(2), {})
    second = sender.send(batch(3), {})
    sender.close()
    assert (first.rejected, first.pending, second.rejected) == (2, [], 3)
    assert len(server.received) == 2  # one request per batch: no retry
    refusals = [r for r in caplog.records if "refused 2 spans for good" in r.getMessage()]
    assert len(refusals) == 1
    assert "bad spans" in refusals[0].getMessage()
    assert not any("refused 3 spans" in r.getMessage() for r in caplog.records)


def test_too_large_batches_are_split_until_the_server_takes_them(server: OtlpRecorder) -> None:
    server.max_spans = 2
    sender = sender_for(server)
    result = sender.send(batch(7), {"x-tracelake-experiment-id": "4"})
    sender.close()
    assert (result.acknowledged, result.rejected) == (7, 0)
    accepted = server.accepted()
    assert all(len(r.spans) <= 2 for r in accepted)
    assert all(r.headers["x-tracelake-experiment-id"] == "4" for r in accepted)
    assert server.accepted_names() == [f"s{i}" for i in range(7)]  # order kept across the halves


def test_a_single_span_too_large_for_the_server_is_rejected(server: OtlpRecorder) -> None:
    server.max_spans = 0
    sender = sender_for(server)
    result = sender.send(batch(2), {})
    sender.close()
    assert (result.acknowledged, result.rejected, result.pending) == (0, 2, [])


def test_partial_success_counts_the_refused_spans(server: OtlpRecorder) -> None:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 1
    response.partial_success.error_message = "span 2: missing name"
    server.replies = [Reply(200, body=response.SerializeToString())]
    sender = sender_for(server)
    result = sender.send(batch(3), {})
    sender.close()
    assert (result.acknowledged, result.rejected) == (2, 1)


def test_an_unreachable_server_leaves_the_batch_pending_without_raising(server: OtlpRecorder) -> None:
    server.stop()
    sender = sender_for(server, max_attempts=2)
    result = sender.send(batch(2), {})
    sender.close()
    assert result.acknowledged == 0
    assert result.pending_spans == 2
    assert "Connect" in (result.error or "")


def test_a_hung_server_times_out_once_and_leaves_the_batch_pending(server: OtlpRecorder) -> None:
    server.hold.clear()
    sender = sender_for(server, timeout_s=0.2, max_attempts=3)
    result = sender.send(batch(1), {})
    sender.close()
    server.hold.set()
    assert result.pending_spans == 1
    assert "Timeout" in (result.error or "")
    server.wait_for(lambda r: len(r.received) >= 1)
    assert len(server.received) == 1  # not retried: a slow server must not hold the export thread longer


def test_a_closed_sender_reports_pending_instead_of_raising(server: OtlpRecorder) -> None:
    sender = sender_for(server)
    sender.close()
    result = sender.send(batch(1), {})
    assert (result.acknowledged, result.pending_spans) == (0, 1)
    assert server.received == []


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after("-1") == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after(future) or 0) <= 31
