"""The serving endpoint: an ASGI app answering the OpenAI Responses API with an agent, tracing every request.

Routes: `POST /v1/responses` (the `openai` client's `responses.create`, streaming included),
`POST /invocations` (the same), `POST /feedback`, `GET /health`.

Every request the agent answers is one trace: a root span named after the endpoint (inputs: the
request body, outputs: the response body) with the agent's AGENT span and its children beneath,
and trace metadata for the endpoint, the model version, the environment and the caller's user,
conversation and client request id. The trace id comes back in the `x-tracelake-trace-id` header
and in the response's `metadata.trace_id`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import tracelake
from tracelake.agents._agent import ResponsesAgent
from tracelake.agents._types import ResponsesRequest, ResponsesResponse, new_id
from tracelake.agents.serving import _runner
from tracelake.agents.serving._errors import EndpointError, error_body, validation_error
from tracelake.agents.serving._feedback import FeedbackRequest, FeedbackStore, RecentTraces
from tracelake.agents.serving._settings import CLIENT_REQUEST_ID_HEADER, TRACE_ID_HEADER, EndpointSettings
from tracelake.agents.serving._sse import ResponseStreamWriter, encode_sse
from tracelake.model import SpanType
from tracelake.tracing import LiveSpan, NoOpSpan

__all__ = ["create_endpoint_app"]

_ROOT_SPAN_TYPE = SpanType.CHAIN.value  # the string: an enum's .value is a Python-level lookup per request
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def create_endpoint_app(agent: ResponsesAgent, settings: EndpointSettings) -> Starlette:
    """Return the ASGI app of a serving endpoint for `agent` (serve it with uvicorn).

    Starting the app (its lifespan) configures tracelake from `settings` — experiment, tracking
    URI, environment — unless `settings.configure_tracing` is False; stopping it flushes the traces.

    Args:
        agent: the agent answering requests.
        settings: the endpoint's name, model version and where its traces go.
    """
    endpoint = _Endpoint(agent, settings)
    routes = [
        Route("/v1/responses", endpoint.responses, methods=["POST"]),
        Route("/invocations", endpoint.responses, methods=["POST"]),
        Route("/feedback", endpoint.feedback, methods=["POST"]),
        Route("/health", endpoint.health, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {
        EndpointError: _endpoint_error,
        HTTPException: _http_error,
        Exception: _unexpected_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=endpoint.lifespan)
    app.state.endpoint = endpoint
    return app


class _Endpoint:
    def __init__(self, agent: ResponsesAgent, settings: EndpointSettings) -> None:
        self.agent = agent
        self.settings = settings
        self.recent = RecentTraces()
        self.feedback_store = FeedbackStore(settings, self.recent)
        self.trace_metadata = settings.trace_metadata

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        settings = self.settings
        if settings.configure_tracing:
            tracelake.configure(
                tracking_uri=settings.tracking_uri,
                home=settings.home,
                experiment_name=settings.experiment_name,
                experiment_id=settings.experiment_id,
                enabled=settings.tracing,
                environment=settings.environment,
            )
        # Worker threads of this event loop (sync agents): anyio's default limiter, raised.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.max_threads
        if settings.freeze_gc:
            gc.freeze()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(tracelake.flush, 5.0)

    # Routes -------------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        settings = self.settings
        body = {
            "status": "ok",
            "endpoint_name": settings.endpoint_name,
            "model_name": settings.model_name,
            "model_version": settings.model_version,
        }
        return _json(200, body)

    async def responses(self, request: Request) -> Response:
        body, raw = await _read_json(request, self.settings.max_body_bytes)
        try:
            parsed = ResponsesRequest.model_validate(body)
        except ValidationError as exc:
            raise validation_error(exc) from None
        client_request_id = parsed.client_request_id or request.headers.get(CLIENT_REQUEST_ID_HEADER) or None
        # The root span's inputs are the body as it arrived: JSON already, so nothing to serialise
        # later, and one bytes object kept until the span is exported instead of the parsed tree.
        inputs = orjson.Fragment(raw)
        if parsed.stream:
            return _StreamingAnswer(self, parsed, inputs, client_request_id)
        return await self._answer(parsed, inputs, client_request_id)

    async def feedback(self, request: Request) -> Response:
        body, _ = await _read_json(request, self.settings.max_body_bytes)
        try:
            parsed = FeedbackRequest.model_validate(body)
        except ValidationError as exc:
            raise validation_error(exc, "feedback") from None
        stored = await anyio.to_thread.run_sync(self.feedback_store.log, parsed)
        return _json(201, stored)

    # Answering ----------------------------------------------------------------------------------
    def begin(self, span: LiveSpan | NoOpSpan, request: ResponsesRequest, client_request_id: str | None) -> str | None:
        """Annotate the request's trace; return its id (None when it is not recorded)."""
        if type(span) is not LiveSpan:
            return None
        settings = self.settings
        tracelake.update_current_trace(
            metadata=self.trace_metadata,
            session_id=request.conversation_id,
            user_id=request.user_id,
            client_request_id=client_request_id,
            environment=settings.environment,
        )
        trace_id = span.trace_id
        self.recent.add(trace_id, client_request_id)
        return trace_id

    def shell(
        self, request: ResponsesRequest, trace_id: str | None, client_request_id: str | None
    ) -> ResponsesResponse:
        """The response's envelope: id, model and metadata (request metadata, trace id, client request id)."""
        metadata = dict(request.metadata or {})
        if trace_id is not None:
            metadata["trace_id"] = trace_id
        if client_request_id is not None:
            metadata["client_request_id"] = client_request_id
        return ResponsesResponse(
            id=new_id("resp"), model=self.settings.model_name or request.model, metadata=metadata or None
        )

    def finish(self, shell: ResponsesResponse, answer: ResponsesResponse) -> ResponsesResponse:
        """The agent's answer inside the endpoint's envelope (an id or model the agent set wins)."""
        chosen = answer.model_fields_set
        update: dict[str, Any] = {"metadata": {**(shell.metadata or {}), **(answer.metadata or {})} or None}
        if "id" not in chosen:
            update["id"] = shell.id
        if "model" not in chosen or answer.model is None:
            update["model"] = shell.model
        if "created_at" not in chosen:
            update["created_at"] = shell.created_at
        return answer.model_copy(update=update)

    async def _answer(self, request: ResponsesRequest, inputs: Any, client_request_id: str | None) -> Response:
        with tracelake.start_span(self.settings.endpoint_name, _ROOT_SPAN_TYPE, inputs=inputs) as span:
            trace_id = self.begin(span, request, client_request_id)
            headers = _trace_header(trace_id)
            try:
                answer = await _runner.predict(self.agent, request)
            except Exception as exc:
                failure = agent_failed(exc, trace_id)
                _record_failure(span, exc, failure)
                return _json(500, failure, headers)
            response = self.finish(self.shell(request, trace_id, client_request_id), answer)
            content = orjson.dumps(response.model_dump(mode="json", exclude_none=True))
            # The response body, serialised once, is also the root span's outputs.
            span.set_outputs(orjson.Fragment(content))
            return Response(content, status_code=200, media_type="application/json", headers=headers)


class _StreamingAnswer(Response):
    """An SSE answer; it runs the agent itself so the root span lives in one task for the whole stream."""

    def __init__(
        self, endpoint: _Endpoint, request: ResponsesRequest, inputs: Any, client_request_id: str | None
    ) -> None:
        super().__init__()
        self._endpoint = endpoint
        self._request = request
        self._inputs = inputs
        self._client_request_id = client_request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The response's last bytes go out only after the root span ended, so a caller that reads
        # the trace as soon as the answer is complete finds it whole.
        early_failure: Response | None = None
        started = False
        try:
            early_failure, started = await self._stream(send)
        finally:
            if early_failure is not None:
                await early_failure(scope, receive, send)
            elif started:
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stream(self, send: Send) -> tuple[Response | None, bool]:
        """Run the agent and send its events; return (the 500 to send instead, whether the SSE answer started)."""
        endpoint, request = self._endpoint, self._request
        with tracelake.start_span(endpoint.settings.endpoint_name, _ROOT_SPAN_TYPE, inputs=self._inputs) as span:
            trace_id = endpoint.begin(span, request, self._client_request_id)
            headers = _trace_header(trace_id)
            stream = _runner.AgentStream(endpoint.agent, request)
            try:
                # Wait for the first event before answering: an agent that fails at once gets a 500.
                event = await stream.next()
            except Exception as exc:
                failure = agent_failed(exc, trace_id)
                _record_failure(span, exc, failure)
                return _json(500, failure, headers), False
            writer = ResponseStreamWriter(endpoint.shell(request, trace_id, self._client_request_id))
            raw_headers = _SSE_HEADERS + [(k.encode(), v.encode()) for k, v in headers.items()]
            await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
            try:
                await _send_events(send, writer.start())
                while event is not None:
                    await _send_events(send, writer.feed(event))
                    try:
                        event = await stream.next()
                    except Exception as exc:
                        failure = agent_failed(exc, trace_id)
                        await _send_events(send, writer.fail(failure["error"]["message"]))
                        _record_failure(span, exc, _dump(writer.final))
                        return None, True
                await _send_events(send, writer.finish())
                span.set_outputs(_dump(writer.final))
            finally:
                await stream.aclose()
        return None, True


async def _send_events(send: Send, events: list[dict[str, Any]]) -> None:
    if events:
        await send({"type": "http.response.body", "body": b"".join(map(encode_sse, events)), "more_body": True})


# Helpers ------------------------------------------------------------------------------------------
def agent_failed(exc: BaseException, trace_id: str | None) -> dict[str, Any]:
    """The 500 body for an agent that raised: the exception's type, and the trace that holds the details."""
    where = f"; the trace {trace_id} holds the details" if trace_id else ""
    return error_body(500, f"The agent raised {type(exc).__name__}{where}.", code="agent_error")


def _record_failure(span: LiveSpan | NoOpSpan, exc: BaseException, outputs: Any) -> None:
    span.record_exception(exc)
    span.set_status("ERROR", f"{type(exc).__name__}: {exc}")
    span.set_outputs(outputs)


def _dump(response: ResponsesResponse | None) -> Any:
    return None if response is None else response.model_dump(mode="json", exclude_none=True)


def _trace_header(trace_id: str | None) -> dict[str, str]:
    return {} if trace_id is None else {TRACE_ID_HEADER: trace_id}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def _read_json(request: Request, limit: int) -> tuple[Any, bytes]:
    """The request's JSON object, and the bytes it was read from."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise EndpointError(413, f"The request body is larger than {limit} bytes.", code="body_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EndpointError(413, f"The request body is larger than {limit} bytes.", code="body_too_large")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise EndpointError(400, "The request body is empty: send a JSON object.", code="invalid_json")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EndpointError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    if not isinstance(value, dict):
        raise EndpointError(400, "The request body must be a JSON object.", code="invalid_json")
    return value, data


async def _endpoint_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EndpointError)
    return _json(exc.status, exc.body())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _json(exc.status_code, error_body(exc.status_code, exc.detail), dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return _json(500, error_body(500, f"The endpoint failed: {type(exc).__name__}.", code="internal_error"))
