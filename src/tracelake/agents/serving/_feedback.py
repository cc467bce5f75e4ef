"""End-user feedback on an endpoint's traces: `POST /feedback` → a HUMAN feedback assessment.

Feedback names a trace by id or by the caller's client request id, and is accepted only for traces
this endpoint produced (trace metadata `endpoint_name`), so one endpoint's users cannot annotate
another's traces. It often arrives right after the response, before the trace's spans are stored:
for a trace this process served recently, the endpoint flushes and waits briefly for it; any other
unknown trace is a 404 at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

import tracelake
from tracelake.agents.serving._errors import EndpointError
from tracelake.agents.serving._settings import ENDPOINT_NAME_KEY, EndpointSettings
from tracelake.exceptions import NotFoundError, StoreError
from tracelake.model import AssessmentSourceType, TraceInfo
from tracelake.tracing import RUNTIME

__all__ = ["FeedbackRequest", "FeedbackStore", "RecentTraces"]

THUMBS_NAME = "thumbs_up"
COMMENT_NAME = "comment"
_POLL_S = 0.05


class FeedbackRequest(BaseModel):
    """The body of `POST /feedback`."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str | None = Field(default=None, min_length=1, max_length=64)
    client_request_id: str | None = Field(default=None, min_length=1, max_length=250)
    value: StrictBool | None = None
    comment: str | None = Field(default=None, min_length=1, max_length=10_000)
    user_id: str | None = Field(default=None, min_length=1, max_length=250)

    @model_validator(mode="after")
    def _complete(self) -> FeedbackRequest:
        if (self.trace_id is None) == (self.client_request_id is None):
            raise ValueError("give exactly one of trace_id and client_request_id")
        if self.value is None and self.comment is None:
            raise ValueError("give a thumbs up/down (value: true or false), a comment, or both")
        return self


class RecentTraces:
    """Trace ids (and client request ids) this endpoint process served lately, bounded in number."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._traces: OrderedDict[str, None] = OrderedDict()
        self._requests: OrderedDict[str, str] = OrderedDict()

    def add(self, trace_id: str, client_request_id: str | None) -> None:
        self._traces[trace_id] = None
        if len(self._traces) > self._capacity:
            self._traces.popitem(last=False)
        if client_request_id is not None:
            self._requests[client_request_id] = trace_id
            self._requests.move_to_end(client_request_id)
            if len(self._requests) > self._capacity:
                self._requests.popitem(last=False)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._traces

    def trace_of(self, client_request_id: str) -> str | None:
        return self._requests.get(client_request_id)


class FeedbackStore:
    """Finds the endpoint's trace and stores feedback on it; blocking, so called on a worker thread."""

    def __init__(self, settings: EndpointSettings, recent: RecentTraces) -> None:
        self._settings = settings
        self._recent = recent

    def log(self, feedback: FeedbackRequest) -> dict[str, Any]:
        """Store the feedback; return what the endpoint answers.

        Raises:
            EndpointError: 404 for a trace that is unknown or not this endpoint's; 503 when the
                store cannot be reached.
        """
        try:
            info = self._find(feedback)
            if info.metadata.get(ENDPOINT_NAME_KEY) != self._settings.endpoint_name:
                raise NotFoundError("not served by this endpoint")
            value: Any
            if feedback.value is not None:
                name, value = THUMBS_NAME, feedback.value
            else:
                name, value = COMMENT_NAME, feedback.comment
            assessment = tracelake.log_feedback(
                info.trace_id,
                name=name,
                value=value,
                source_type=AssessmentSourceType.HUMAN,
                source_id=feedback.user_id,
                rationale=feedback.comment if feedback.value is not None else None,
                metadata={ENDPOINT_NAME_KEY: self._settings.endpoint_name},
            )
        except NotFoundError:
            raise _not_found(feedback) from None
        except StoreError as exc:
            raise EndpointError(503, f"Feedback could not be stored: {exc}", code="store_unavailable") from None
        return {
            "assessment_id": assessment.assessment_id,
            "trace_id": info.trace_id,
            "name": assessment.name,
            "value": assessment.value,
        }

    def _find(self, feedback: FeedbackRequest) -> TraceInfo:
        trace_id = feedback.trace_id
        if trace_id is None:
            trace_id = self._recent.trace_of(feedback.client_request_id or "")
        if trace_id is not None:
            return self._lookup(f"trace_id = {_quote(trace_id)}", wait=trace_id in self._recent)
        return self._lookup(f"client_request_id = {_quote(feedback.client_request_id or '')}", wait=False)

    def _lookup(self, filter_string: str, wait: bool) -> TraceInfo:
        deadline = time.monotonic() + self._settings.feedback_wait_s
        flushed = False
        while True:
            found = tracelake.search_traces(
                self._experiment_ids(), filter_string=filter_string, max_results=1, include_spans=False
            )
            if found:
                return found[0].info
            if not wait or time.monotonic() >= deadline:
                raise NotFoundError(filter_string)
            if not flushed:
                # The spans may still be in this process's export queue.
                tracelake.flush(max(0.0, deadline - time.monotonic()))
                flushed = True
            else:
                time.sleep(_POLL_S)

    def _experiment_ids(self) -> list[str] | None:
        ref = RUNTIME.experiment
        if ref.experiment_id is not None:
            return [ref.experiment_id]
        experiment = tracelake.get_experiment_by_name(ref.name or "Default")
        return None if experiment is None else [experiment.experiment_id]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _not_found(feedback: FeedbackRequest) -> EndpointError:
    what = f"trace {feedback.trace_id!r}" if feedback.trace_id else f"client_request_id {feedback.client_request_id!r}"
    return EndpointError(404, f"No {what} was served by this endpoint.", code="trace_not_found")
