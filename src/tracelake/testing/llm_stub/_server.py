"""`LLMStub`: the HTTP server answering the OpenAI REST API on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tracelake.testing.llm_stub import _wire
from tracelake.testing.llm_stub._parse import chat_conversation, responses_conversation
from tracelake.testing.llm_stub._rules import (
    FAILURE_MESSAGE,
    Answer,
    Conversation,
    JSONObject,
    RecordedRequest,
    Rules,
    StubError,
    StubRule,
    ToolCall,
    default_reply,
)

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
_ERROR_TYPES |= {404: "not_found_error", 429: "rate_limit_error"}


class LLMStub:
    """A local OpenAI-compatible server with deterministic replies.

    Args:
        host: interface to bind; loopback by default so nothing outside the machine can reach it.
        port: TCP port; 0 picks a free one (read it back from `port` or `base_url`).
        rules: initial rules, as `StubRule`s or a mapping of substring to reply.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        rules: Mapping[str, str] | Iterable[StubRule] | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._lock = threading.Lock()
        self._rules = Rules()
        self._counter = 0
        self.requests: list[RecordedRequest] = []
        """Every request received, oldest first."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if rules is not None:
            self.rules = rules

    # Rules -------------------------------------------------------------------------------------
    @property
    def rules(self) -> tuple[StubRule, ...]:
        """The scripted rules, first match wins; assign a list or a `{substring: reply}` mapping."""
        return self._rules.get()

    @rules.setter
    def rules(self, rules: Mapping[str, str] | Iterable[StubRule]) -> None:
        self._rules.set(rules)

    def add_rule(
        self,
        match: str,
        reply: str = "",
        *,
        status: int | None = None,
        message: str | None = None,
        times: int | None = None,
        tool_calls: Sequence[ToolCall] = (),
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> StubRule:
        """Append a rule (see `StubRule`) and return it."""
        rule = StubRule(
            match, reply, status, message or FAILURE_MESSAGE, times, tuple(tool_calls), cached_tokens, reasoning_tokens
        )
        self._rules.add(rule)
        return rule

    def add_tool_call(
        self, match: str, name: str, arguments: Mapping[str, Any] | str | None = None, *, reply: str = ""
    ) -> StubRule:
        """Make the model call function `name` with `arguments` when `match` occurs in the prompt.

        Once the conversation carries the tool's result, the rule no longer applies: the reply falls
        to the next rule, or to the default echo of the tool's result.
        """
        return self.add_rule(match, reply, tool_calls=[ToolCall(name, {} if arguments is None else arguments)])

    def clear_rules(self) -> None:
        """Remove every rule; replies fall back to the defaults."""
        self.rules = []

    # Lifecycle ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port; only meaningful once started."""
        if self._server is None:
            raise RuntimeError("the LLM stub is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The server's root URL, e.g. `http://127.0.0.1:54321`."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give OpenAI clients as `base_url` (ends in `/v1`)."""
        return f"{self.url}/v1"

    def start(self) -> LLMStub:
        """Bind and serve on a daemon thread; returns self so `LLMStub().start()` chains."""
        if self._server is not None:
            return self
        self._server = _Server((self._host, self._requested_port), _Handler, self)
        # A short poll interval makes stop() quick: shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="tracelake-llm-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> LLMStub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Request handling (called on the server's threads) -----------------------------------------
    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-stub{self._counter:06d}"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _answer(self, body: JSONObject, conversation: Conversation, include_usage: bool = False) -> Answer:
        rule = self._rules.decide(conversation)
        text = default_reply(conversation) if rule is None else rule.reply
        calls = () if rule is None else tuple((self._next_id("call"), call) for call in rule.tool_calls)
        return Answer(
            model=str(body.get("model") or "stub-model"),
            text=text,
            input_tokens=conversation.input_tokens,
            stream=bool(body.get("stream")),
            include_usage=include_usage,
            tool_calls=calls,
            cached_tokens=0 if rule is None else min(rule.cached_tokens, conversation.input_tokens),
            reasoning_tokens=0 if rule is None else rule.reasoning_tokens,
        )

    def _chat_answer(self, body: JSONObject) -> Answer:
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        return self._answer(body, chat_conversation(body), include_usage)

    def _responses_answer(self, body: JSONObject) -> Answer:
        return self._answer(body, responses_conversation(body))


# HTTP -------------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], stub: LLMStub) -> None:
        super().__init__(address, handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as clients such as httpx expect from a real API.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm on, every answer after the
    # first on a kept-alive connection waited ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: test output and the quickstart's console are not the place for access logs."""

    def do_GET(self) -> None:
        self._dispatch(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._record(None)
            self._send_error(400, "the request body is not valid JSON")
            return
        if not isinstance(body, dict):
            self._record(None)
            self._send_error(400, "the request body must be a JSON object")
            return
        self._dispatch(body)

    def _record(self, body: JSONObject | None) -> None:
        headers = {key.lower(): value for key, value in self.headers.items()}
        self.server.stub._record(RecordedRequest(self.command, self.path, headers, body))

    def _dispatch(self, body: JSONObject | None) -> None:
        self._record(body)
        stub, path, created = self.server.stub, self.path.split("?", 1)[0].rstrip("/"), int(time.time())
        try:
            if self.command == "GET" and path == "/v1/models":
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "tracelake"} for m in _wire.MODELS]
                self._send_json(200, {"object": "list", "data": data})
            elif body is not None and path == "/v1/chat/completions":
                answer, ident = stub._chat_answer(body), stub._next_id("chatcmpl")
                if answer.stream:
                    self._send_sse(((None, c) for c in _wire.chat_chunks(answer, ident, created)), done_marker=True)
                else:
                    self._send_json(200, _wire.chat_completion(answer, ident, created))
            elif body is not None and path == "/v1/responses":
                answer, ident = stub._responses_answer(body), stub._next_id("resp")
                if answer.stream:
                    events = _wire.response_events(answer, ident, created)
                    self._send_sse((event["type"], event) for event in events)
                else:
                    self._send_json(200, _wire.response_object(answer, ident, created, done=True))
            elif body is not None and path == "/v1/embeddings":
                self._send_json(200, _wire.embeddings(body))
            else:
                self._send_error(404, f"the LLM stub has no route {self.command} {path}")
        except StubError as exc:
            self._send_error(exc.status, exc.message)
        except Exception as exc:  # a stub bug must answer 500, not drop the connection
            self._send_error(500, f"the LLM stub failed: {type(exc).__name__}: {exc}")

    def _send_json(self, status: int, payload: JSONObject) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _send_sse(self, events: Iterable[tuple[str | None, JSONObject]], done_marker: bool = False) -> None:
        # No length is known up front, so the stream ends by closing the connection.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sequence = 0
        for name, payload in events:
            if name is not None:  # Responses API events are named and numbered.
                payload = payload | {"sequence_number": sequence}
                sequence += 1
                self.wfile.write(f"event: {name}\n".encode())
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()
        if done_marker:
            self.wfile.write(b"data: [DONE]\n\n")
