"""OTLP/HTTP protobuf sender: gzip, timeouts, retries with backoff and jitter, Retry-After, 413 splitting.

`OtlpHttpSender.send()` delivers one encoded batch to `<server>/v1/traces` and reports what became
of every span in it:

- acknowledged: a 2xx answer, minus the spans the server listed in `partial_success.rejected_spans`;
- rejected: refused for good. A 4xx other than 408/413/429 is the client's fault and is not
  retried (logged once per status). A 413 splits the batch in halves, recursively; a single span
  too large for the server is rejected;
- pending: not delivered for a reason that may pass (connection refused or reset, timeout, 408,
  429, 5xx) after the allowed attempts. The caller spools these; `retry_after` says how long the
  server asked senders to wait.

It never raises for a network or HTTP problem, and it runs only on tracelake's background threads.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from opentelemetry import context as otel_context
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracelake.tracing._errors import log_once
from tracelake.tracing.export.otlp_encode import EncodedBatch, split_body
from tracelake.version import __version__

logger = logging.getLogger("tracelake")

OTLP_PATH = "/v1/traces"
# Level 1: spans (ids, JSON payloads) compress about 8:1 at level 1 and 9:1 at level 6, for a third
# of the CPU, and this CPU is the traced app's.
_GZIP_LEVEL = 1
_RETRYABLE_4XX = frozenset({408, 429})
# The key OpenTelemetry instrumentations (httpx, requests, urllib3) check to stay silent: without
# it an instrumented httpx would trace our own export requests, and export those spans, forever.
_SUPPRESS_KEY = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)


@dataclass
class SendResult:
    """What became of the spans of one `send()` call."""

    acknowledged: int = 0
    rejected: int = 0
    pending: list[EncodedBatch] = field(default_factory=list)
    """Parts not delivered for a transient reason, in their original order."""
    retry_after: float | None = None
    """Seconds the server asked senders to wait (429/503 `Retry-After`), if it did."""
    error: str | None = None
    """Why the pending parts were not delivered."""

    @property
    def pending_spans(self) -> int:
        return sum(batch.spans for batch in self.pending)


@dataclass(frozen=True)
class _Answer:
    kind: str  # "ok", "transient", "too_large", "permanent"
    status: int = 0
    rejected: int = 0
    retry_after: float | None = None
    message: str = ""
    timed_out: bool = False


class OtlpHttpSender:
    """Posts encoded batches to one OTLP/HTTP endpoint. Thread-safe; never raises for I/O problems.

    Args:
        endpoint: full URL of the traces endpoint, e.g. `http://host:5000/v1/traces`.
        headers: sent with every request (e.g. `Authorization`).
        timeout_s: connect/read/write timeout of one request.
        max_attempts: attempts per batch before it is reported pending (1 = no retry).
        initial_backoff_s: wait before the second attempt; doubled each time, with jitter.
        max_backoff_s: longest wait between attempts.
        max_retry_after_s: a longer `Retry-After` is not waited for here: the batch is reported
            pending with `retry_after` set, for the caller to honour without holding this thread.
        transport: an httpx transport (tests).
        auth: httpx auth adding credentials to each request (e.g. client-credentials tokens).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 3,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 5.0,
        max_retry_after_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._auth = auth
        self._headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
            "User-Agent": f"tracelake/{__version__}",
            **(headers or {}),
        }
        self._timeout = timeout_s
        self._max_attempts = max(1, max_attempts)
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._max_retry_after = max_retry_after_s
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._closing = threading.Event()

    # Public ----------------------------------------------------------------------------------------
    def send(
        self,
        batch: EncodedBatch,
        headers: Mapping[str, str],
        *,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
    ) -> SendResult:
        """Deliver `batch` (splitting it on 413) and report acknowledged, rejected and pending spans.

        Args:
            batch: the encoded request.
            headers: headers of this batch (the experiment).
            max_attempts: override of the attempts per part.
            timeout_s: override of the request timeout (e.g. a shorter one at shutdown).
        """
        result = SendResult()
        todo = [batch]
        attempts = self._max_attempts if max_attempts is None else max(1, max_attempts)
        while todo:
            part = todo.pop(0)
            answer = self._post_with_retries(part, headers, attempts, timeout_s)
            if answer.kind == "ok":
                rejected = min(answer.rejected, part.spans)
                result.acknowledged += part.spans - rejected
                result.rejected += rejected
                if rejected:
                    log_once(
                        "otlp-partial",
                        "tracelake: the server refused %d of %d spans: %s",
                        rejected,
                        part.spans,
                        answer.message or "no reason given",
                    )
            elif answer.kind == "too_large" and part.spans > 1 and (halves := _split(part)) is not None:
                todo[:0] = halves
            elif answer.kind in ("too_large", "permanent"):
                result.rejected += part.spans
                log_once(
                    f"otlp-refused:{answer.status}",
                    "tracelake: the server refused %d spans for good (%s); they are dropped",
                    part.spans,
                    answer.message,
                )
            else:
                # Stop at the first transient failure: what follows would most likely fail too.
                result.pending = [part, *todo]
                result.retry_after = answer.retry_after
                result.error = answer.message
                break
        return result

    def close(self) -> None:
        """Stop waiting between attempts and close connections."""
        self._closing.set()
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def reset_after_fork(self) -> None:
        """Forget the parent's connections: a forked child must never share its sockets."""
        self._client_lock = threading.Lock()
        self._client = None
        self._closing = threading.Event()

    # Internals -------------------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._closing.is_set():
                raise RuntimeError("the OTLP sender is closed")
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self._timeout),
                    transport=self._transport,
                    headers=self._headers,
                    follow_redirects=False,
                    auth=self._auth,
                )
            return self._client

    def _post_with_retries(
        self, batch: EncodedBatch, headers: Mapping[str, str], attempts: int, timeout_s: float | None
    ) -> _Answer:
        body = gzip.compress(batch.body, compresslevel=_GZIP_LEVEL)
        answer = _Answer("transient", message="not sent")
        for attempt in range(attempts):
            if self._closing.is_set() and attempt > 0:
                break
            answer = self._post(body, headers, timeout_s)
            # A server too slow to answer will not be faster a second later: a timeout goes
            # straight to the caller (the spool) instead of holding the export thread again.
            if answer.kind != "transient" or answer.timed_out or attempt == attempts - 1:
                break
            if answer.retry_after is not None:
                if answer.retry_after > self._max_retry_after:
                    break
                delay = answer.retry_after
            else:
                delay = self._backoff(attempt)
            if self._closing.wait(delay):
                break
        return answer

    def _backoff(self, attempt: int) -> float:
        base = min(self._max_backoff, self._initial_backoff * (2.0**attempt))
        # Jitter spreads the retries of many senders that failed at the same moment.
        return base / 2 + random.uniform(0, base / 2)

    def _post(self, body: bytes, headers: Mapping[str, str], timeout_s: float | None) -> _Answer:
        token = otel_context.attach(otel_context.set_value(_SUPPRESS_KEY, True)) if _SUPPRESS_KEY else None
        try:
            timeout = httpx.Timeout(timeout_s) if timeout_s is not None else httpx.USE_CLIENT_DEFAULT
            response = self._http().post(self.endpoint, content=body, headers=dict(headers), timeout=timeout)
        except httpx.TransportError as exc:
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _Answer("transient", message=message, timed_out=isinstance(exc, httpx.TimeoutException))
        except RuntimeError as exc:  # closed (possibly under us) by shutdown
            return _Answer("transient", message=str(exc))
        finally:
            if token is not None:
                otel_context.detach(token)
        return _classify(response)


def _split(batch: EncodedBatch) -> tuple[EncodedBatch, EncodedBatch] | None:
    try:
        return split_body(batch.body)
    except ValueError:  # not splittable: refused like a single span too large
        return None


def _classify(response: httpx.Response) -> _Answer:
    status = response.status_code
    if 200 <= status < 300:
        rejected, message = _partial_success(response)
        return _Answer("ok", rejected=rejected, message=message)
    message = f"HTTP {status}: {_error_text(response)}"
    if status == 413:
        return _Answer("too_large", status, message=message)
    if status in _RETRYABLE_4XX or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return _Answer("transient", status, retry_after=retry_after, message=message)
    return _Answer("permanent", status, message=message)


def _partial_success(response: httpx.Response) -> tuple[int, str]:
    content = response.content
    if not content:
        return 0, ""
    try:
        if "json" in response.headers.get("Content-Type", ""):
            body = response.json()
            partial = body.get("partialSuccess") or body.get("partial_success") or {}
            rejected = partial.get("rejectedSpans") or partial.get("rejected_spans") or 0
            return int(rejected), str(partial.get("errorMessage") or partial.get("error_message") or "")
        parsed = ExportTraceServiceResponse()
        parsed.ParseFromString(content)
        return int(parsed.partial_success.rejected_spans), parsed.partial_success.error_message
    except Exception:
        # A 2xx whose body we cannot read still means the spans were taken.
        return 0, ""


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        if isinstance(error, dict) and error.get("message"):
            return f"{error.get('code', '')} {error['message']}".strip()
    except Exception:
        pass
    return response.reason_phrase or "error"


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
