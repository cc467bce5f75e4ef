"""A small real OTLP/HTTP server on loopback that records what arrives and can be told to misbehave."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


@dataclass
class Received:
    """One request that reached the server (answered with any status)."""

    headers: dict[str, str]
    request: ExportTraceServiceRequest
    status: int
    at: float

    @property
    def spans(self) -> list[Span]:
        return [s for rs in self.request.resource_spans for ss in rs.scope_spans for s in ss.spans]

    @property
    def span_names(self) -> list[str]:
        return [s.name for s in self.spans]


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class OtlpRecorder:
    """Accepts `POST /v1/traces`; `replies` scripts the next answers (default: 200 OK).

    `stop()` closes the port (connections are refused), `start()` opens it again on the same port.
    Set `hold` to make requests wait until it is cleared (a hung server).
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply | Callable[[Received], Reply]] = []
        self.max_spans: int | None = None
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                recorder._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        self.hold.wait(60)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        if handler.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received = Received({k.lower(): v for k, v in handler.headers.items()}, request, 200, time.monotonic())
        with self._lock:
            script = self.replies.pop(0) if self.replies else None
        if script is not None:
            reply = script(received) if callable(script) else script
        elif self.max_spans is not None and len(received.spans) > self.max_spans:
            reply = Reply(413)
        else:
            reply = Reply(200)
        received.status = reply.status
        with self._lock:  # recorded before answering: the sender may look the moment it has the answer
            self.received.append(received)
            self._lock.notify_all()
        payload = reply.body
        if payload is None:
            payload = ExportTraceServiceResponse().SerializeToString() if reply.status == 200 else b'{"error": {}}'
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/x-protobuf" if reply.status == 200 else "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting (a test of timeouts)

    # Reading what arrived --------------------------------------------------------------------------
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 200]

    def accepted_names(self) -> list[str]:
        return [name for r in self.accepted() for name in r.span_names]

    def wait_for(self, predicate: Callable[[OtlpRecorder], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"condition not met in {timeout}s; received {len(self.received)} requests")
                # Woken by each request; the short cap also catches conditions outside the server (files).
                self._lock.wait(min(remaining, 0.05))

    def wait_for_spans(self, count: int, timeout: float = 30.0) -> None:
        self.wait_for(lambda r: len(r.accepted_names()) >= count, timeout)
