"""A real HTTP server on loopback answering scripted JSON per route, and recording every request.

It stands in for `tracelake server` in the client's unit tests: it checks what the client sends
(method, path, query, headers, body) and feeds it the answers docs/rest-api.md promises.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Seen:
    method: str
    raw_path: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class FakeApi:
    """`on(method, raw_path, ...)` scripts answers; several for one route are used in turn (the last repeats)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, method: str, path: str, *answers: Answer | dict[str, Any] | None) -> FakeApi:
        self.routes[(method, path)] = [a if isinstance(a, Answer) else Answer(200, a) for a in answers]
        return self

    def start(self) -> FakeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                api._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.raw_path == path]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: Any = None
        if raw and "json" in (handler.headers.get("Content-Type") or ""):
            body = json.loads(raw)
        seen = Seen(
            handler.command,
            parts.path,
            unquote(parts.path),
            {k: v[-1] for k, v in parse_qs(parts.query).items()},
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self.seen.append(seen)
            answers = self.routes.get((handler.command, parts.path))
            if answers is None and parts.path == "/v1/traces":
                answer = Answer(200, raw=b"")  # accept OTLP so SDK tests can also trace
            elif answers is None:
                answer = Answer(404, {"error": {"code": "NOT_FOUND", "message": f"no route {parts.path}"}})
            else:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
        payload = (
            answer.raw if answer.raw is not None else b"" if answer.body is None else json.dumps(answer.body).encode()
        )
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)


def error(status: int, code: str, message: str, position: int | None = None, **headers: str) -> Answer:
    body: dict[str, Any] = {"code": code, "message": message}
    if position is not None:
        body["position"] = position
    return Answer(status, {"error": body}, {k.replace("_", "-"): v for k, v in headers.items()})
