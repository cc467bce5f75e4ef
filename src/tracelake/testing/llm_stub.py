"""A deterministic OpenAI-compatible HTTP server for offline tests and demos.

Our machines (and many users' CI) have no internet, yet the quickstart, the `openai` autolog and the
LLM judges all need "an LLM" to talk to. `LLMStub` answers the OpenAI REST API on 127.0.0.1 with
replies that are pure functions of the request, so tests can assert exact text and token counts:

    with LLMStub() as stub:
        stub.add_rule("refund", "Refunds take 5 days.")
        client = openai.OpenAI(base_url=stub.base_url, api_key="unused")

Endpoints: `POST /v1/chat/completions`, `POST /v1/responses` (both with SSE streaming),
`POST /v1/embeddings`, `GET /v1/models`.

Replies: the first rule whose `match` occurs in the prompt decides (a reply, or an HTTP error);
otherwise a prompt that asks for JSON with a score or verdict gets `DEFAULT_JUDGEMENT`; otherwise
the reply is `"Echo: " + the last user message`. Usage counts whitespace-separated words
(`count_tokens`). Run it standalone with `python -m tracelake.testing.llm_stub --port 8765`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["DEFAULT_JUDGEMENT", "LLMStub", "RecordedRequest", "StubRule", "count_tokens"]

JSONObject = dict[str, Any]

#: The reply to judge-style prompts (asking for JSON with a score, verdict or rating).
DEFAULT_JUDGEMENT = '{"score": 5, "verdict": "yes", "rationale": "The LLM stub accepts every answer."}'

_FAILURE_MESSAGE = "The LLM stub was told to fail this request."
_JUDGE_WORDS = ("score", "verdict", "rating", "rationale")
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
_ERROR_TYPES |= {404: "not_found_error", 429: "rate_limit_error"}


def count_tokens(text: str) -> int:
    """Return the stub's token count of `text`: its whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True, slots=True)
class StubRule:
    """A scripted answer: when `match` occurs in the prompt, reply with `reply` or fail with `status`.

    Attributes:
        match: substring searched (case-sensitively) in the prompt's text, all messages included.
        reply: the assistant text to answer with.
        status: if set, answer with this HTTP status and an OpenAI-style error body instead.
        message: the error message sent with `status`.
        times: apply the rule this many times only (e.g. fail once, then recover); None is forever.
    """

    match: str
    reply: str = ""
    status: int | None = None
    message: str = _FAILURE_MESSAGE
    times: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the stub received, kept so tests can assert what a client sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: JSONObject | None


class _StubError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class _Answer:
    """What one completion-style request gets back, before it is shaped for an endpoint."""

    model: str
    text: str
    input_tokens: int
    stream: bool
    include_usage: bool = False

    @property
    def output_tokens(self) -> int:
        return count_tokens(self.text)


def _content_text(content: Any) -> str:
    """Return the text of a message's content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _split_stream(text: str) -> list[str]:
    # Split before each word, so the chunks concatenate back to exactly `text`.
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece] or [""]


def _embedding(text: str, dimensions: int) -> list[float]:
    """Return a unit vector derived from the SHA-256 of `text`: equal texts, equal vectors."""
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [int.from_bytes(raw[i * 4 : i * 4 + 4], "little") / 2**31 - 1.0 for i in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


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
        self._rules: list[StubRule] = []
        self._uses: dict[int, int] = {}
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
        with self._lock:
            return tuple(self._rules)

    @rules.setter
    def rules(self, rules: Mapping[str, str] | Iterable[StubRule]) -> None:
        items = [StubRule(k, v) for k, v in rules.items()] if isinstance(rules, Mapping) else list(rules)
        with self._lock:
            self._rules = items
            self._uses.clear()

    def add_rule(
        self,
        match: str,
        reply: str = "",
        *,
        status: int | None = None,
        message: str | None = None,
        times: int | None = None,
    ) -> StubRule:
        """Append a rule (see `StubRule`) and return it."""
        rule = StubRule(match, reply, status, message or _FAILURE_MESSAGE, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        """Remove every rule; replies fall back to the defaults."""
        self.rules = []

    def _reply_for(self, prompt: str, last_user: str, wants_json: bool = False) -> str:
        """Return the reply text to `prompt`, or raise the error a matching failure rule asks for."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.match not in prompt:
                    continue
                if rule.times is not None:
                    if self._uses.get(index, 0) >= rule.times:
                        continue
                    self._uses[index] = self._uses.get(index, 0) + 1
                if rule.status is not None:
                    raise _StubError(rule.status, rule.message)
                return rule.reply
        lowered = prompt.lower()
        if (wants_json or "json" in lowered) and any(word in lowered for word in _JUDGE_WORDS):
            return DEFAULT_JUDGEMENT
        return f"Echo: {last_user}"

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

    def _chat_answer(self, body: JSONObject) -> _Answer:
        messages = body.get("messages")
        messages = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
        if not messages:
            raise _StubError(400, "'messages' must be a non-empty list of message objects")
        texts = [_content_text(m.get("content")) for m in messages]
        users = [_content_text(m.get("content")) for m in messages if m.get("role") == "user"]
        fmt = body.get("response_format")
        wants_json = isinstance(fmt, dict) and str(fmt.get("type", "")).startswith("json")
        text = self._reply_for("\n".join(texts), users[-1] if users else texts[-1], wants_json)
        options = body.get("stream_options") or {}
        return _Answer(
            model=str(body.get("model") or "stub-model"),
            text=text,
            input_tokens=sum(count_tokens(t) for t in texts),
            stream=bool(body.get("stream")),
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        )

    def _responses_answer(self, body: JSONObject) -> _Answer:
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        if not items:
            raise _StubError(400, "'input' must be a string or a non-empty list of items")
        texts = [str(body["instructions"])] if body.get("instructions") else []
        texts += [_content_text(i.get("content")) for i in items]
        users = [_content_text(i.get("content")) for i in items if i.get("role") == "user"]
        fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        wants_json = isinstance(fmt, dict) and str(fmt.get("type", "")).startswith("json")
        text = self._reply_for("\n".join(texts), users[-1] if users else texts[-1], wants_json)
        return _Answer(
            model=str(body.get("model") or "stub-model"),
            text=text,
            input_tokens=sum(count_tokens(t) for t in texts),
            stream=bool(body.get("stream")),
        )


# Shaping answers into the OpenAI wire format ----------------------------------------------------
def _chat_usage(answer: _Answer) -> JSONObject:
    total = answer.input_tokens + answer.output_tokens
    return {"prompt_tokens": answer.input_tokens, "completion_tokens": answer.output_tokens, "total_tokens": total}


def _chat_completion(answer: _Answer, ident: str, created: int) -> JSONObject:
    message = {"role": "assistant", "content": answer.text, "refusal": None}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": answer.model,
        "choices": [choice],
        "usage": _chat_usage(answer),
    }


def _chat_chunks(answer: _Answer, ident: str, created: int) -> Iterator[JSONObject]:
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": answer.model}
    deltas: list[JSONObject] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in _split_stream(answer.text)]
    for delta in deltas:
        yield head | {"choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]}
    yield head | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]}
    if answer.include_usage:
        # As OpenAI does: one last chunk with no choices and the usage of the whole call.
        yield head | {"choices": [], "usage": _chat_usage(answer)}


def _response_object(answer: _Answer, ident: str, created: int, done: bool) -> JSONObject:
    output: list[JSONObject] = []
    if done:
        part = {"type": "output_text", "text": answer.text, "annotations": []}
        output.append({"id": f"msg_{ident}", "type": "message", "role": "assistant", "status": "completed"})
        output[0]["content"] = [part]
    usage = {
        "input_tokens": answer.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": answer.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.input_tokens + answer.output_tokens,
    }
    return {
        "id": ident,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "model": answer.model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage if done else None,
    }


def _response_events(answer: _Answer, ident: str, created: int) -> Iterator[JSONObject]:
    item_id = f"msg_{ident}"
    pending = _response_object(answer, ident, created, done=False)
    final = _response_object(answer, ident, created, done=True)
    empty_part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield {"type": "response.created", "response": pending}
    yield {"type": "response.in_progress", "response": pending}
    item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    yield {"type": "response.output_item.added", "output_index": 0, "item": item}
    yield {"type": "response.content_part.added", **where, "part": empty_part}
    for piece in _split_stream(answer.text):
        yield {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
    yield {"type": "response.output_text.done", **where, "text": answer.text, "logprobs": []}
    yield {"type": "response.content_part.done", **where, "part": final["output"][0]["content"][0]}
    yield {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]}
    yield {"type": "response.completed", "response": final}


def _embeddings(body: JSONObject) -> JSONObject:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts:
        raise _StubError(400, "'input' must be a string or a non-empty list")
    texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]  # token arrays hash like text
    dimensions = int(body.get("dimensions") or 8)
    data: list[JSONObject] = []
    for index, text in enumerate(texts):
        vector: Any = _embedding(text, dimensions)
        if body.get("encoding_format") == "base64":
            # The openai client asks for base64 by default: little-endian float32, as OpenAI sends.
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(count_tokens(t) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": str(body.get("model") or "stub-embedding"), "usage": usage}


_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "stub-model")


# HTTP -------------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], stub: LLMStub) -> None:
        super().__init__(address, handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as clients such as httpx expect from a real API.
    protocol_version = "HTTP/1.1"
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
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "tracelake"} for m in _MODELS]
                self._send_json(200, {"object": "list", "data": data})
            elif body is not None and path == "/v1/chat/completions":
                answer, ident = stub._chat_answer(body), stub._next_id("chatcmpl")
                if answer.stream:
                    self._send_sse(((None, c) for c in _chat_chunks(answer, ident, created)), done_marker=True)
                else:
                    self._send_json(200, _chat_completion(answer, ident, created))
            elif body is not None and path == "/v1/responses":
                answer, ident = stub._responses_answer(body), stub._next_id("resp")
                if answer.stream:
                    events = _response_events(answer, ident, created)
                    self._send_sse((event["type"], event) for event in events)
                else:
                    self._send_json(200, _response_object(answer, ident, created, done=True))
            elif body is not None and path == "/v1/embeddings":
                self._send_json(200, _embeddings(body))
            else:
                self._send_error(404, f"the LLM stub has no route {self.command} {path}")
        except _StubError as exc:
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


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted: `python -m tracelake.testing.llm_stub --port 8765`."""
    parser = argparse.ArgumentParser(prog="python -m tracelake.testing.llm_stub", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    args = parser.parse_args(argv)
    stub = LLMStub(args.host, args.port).start()
    print(f"LLM stub serving at {stub.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
