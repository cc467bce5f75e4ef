"""Assessments: feedback and expectations on a trace, addressed by trace id or by client request id.

Bodies are taken as plain JSON objects and checked by `tracelake.store.assessments`, the rules the
SDK obeys in embedded mode too, so a field is refused with the same message (naming it) whichever
way it arrives. Handlers are plain `def`: store calls run on FastAPI's thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Path
from starlette.responses import Response

from tracelake.exceptions import ConfigError
from tracelake.model import Assessment
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse
from tracelake.server.routes.traces import trace_id_of
from tracelake.store.assessments import create_assessment, update_assessment

__all__ = ["router"]

router = APIRouter(tags=["Assessments"])

TraceIdPath = Annotated[str, Path(description="32 hex characters")]
AssessmentIdPath = Annotated[str, Path(description='"a-" and 32 hex characters', max_length=64)]
ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]
JsonObject = Annotated[dict[str, Any], Body()]

_SOURCE: Final = {
    "type": "object",
    "properties": {
        "source_type": {"type": "string", "enum": ["HUMAN", "LLM_JUDGE", "CODE"]},
        "source_id": {"type": "string", "minLength": 1, "maxLength": 250},
    },
    "additionalProperties": False,
}
_ERROR: Final = {
    "type": ["object", "null"],
    "properties": {"error_code": {"type": "string", "minLength": 1}, "error_message": {"type": "string"}},
    "required": ["error_code"],
    "additionalProperties": False,
}
_CHANGEABLE: Final = {
    "value": {"description": "any JSON: a bool (thumbs), a number (a score), a string, a list or an object"},
    "rationale": {"type": ["string", "null"]},
    "source": _SOURCE,
    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    "error": _ERROR,
}
_INPUT_PROPERTIES: Final = {
    "name": {"type": "string", "minLength": 1, "maxLength": 250},
    "kind": {"type": "string", "enum": ["feedback", "expectation"]},
    **_CHANGEABLE,
    "span_id": {"type": "string", "maxLength": 16},
}
ASSESSMENT_INPUT: Final = {
    "type": "object",
    "properties": _INPUT_PROPERTIES,
    "required": ["name", "kind", "value"],
    "additionalProperties": False,
}


def _body_schema(schema: dict[str, Any], description: str) -> dict[str, Any]:
    # The body is parsed as a plain object (see the module docstring); this documents its shape.
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _assessment_response(assessment: Assessment, status_code: int = 200) -> Response:
    return JsonResponse({"assessment": assessment.to_dict()}, status_code=status_code)


@router.post(
    "/api/v1/traces/{trace_id}/assessments",
    status_code=201,
    summary="Add feedback or an expectation to a trace",
    openapi_extra=_body_schema(ASSESSMENT_INPUT, "AssessmentInput (an expectation cannot carry an error)"),
)
def create_on_trace(trace_id: TraceIdPath, body: JsonObject, store: StoreDep) -> Response:
    """Store a feedback or expectation on the trace; 404 if the trace does not exist."""
    return _assessment_response(create_assessment(store, body, trace_id=trace_id_of(trace_id)), 201)


@router.post(
    "/api/v1/experiments/{experiment_id}/assessments",
    status_code=201,
    summary="Add feedback or an expectation to a trace named by its client request id",
    openapi_extra=_body_schema(
        {
            **ASSESSMENT_INPUT,
            "properties": {**_INPUT_PROPERTIES, "client_request_id": {"type": "string", "minLength": 1}},
            "required": ["name", "kind", "value", "client_request_id"],
        },
        "AssessmentInput plus the client_request_id of the trace (its most recent trace if several)",
    ),
)
def create_by_client_request_id(experiment_id: ExperimentId, body: JsonObject, store: StoreDep) -> Response:
    """Store a feedback or expectation on the experiment's trace with this client request id."""
    fields = dict(body)
    client_request_id = fields.pop("client_request_id", None)
    if not isinstance(client_request_id, str) or not client_request_id:
        raise ConfigError("invalid assessment field 'client_request_id': must be a non-empty string")
    assessment = create_assessment(store, fields, client_request_id=client_request_id, experiment_id=experiment_id)
    return _assessment_response(assessment, 201)


@router.get("/api/v1/traces/{trace_id}/assessments", summary="List a trace's assessments")
def list_assessments(trace_id: TraceIdPath, store: StoreDep) -> Response:
    """Return the trace's feedback and expectations, oldest first; 404 if the trace does not exist."""
    assessments = store.list_assessments(trace_id_of(trace_id))
    return JsonResponse({"assessments": [assessment.to_dict() for assessment in assessments]})


@router.get("/api/v1/traces/{trace_id}/assessments/{assessment_id}", summary="Get an assessment")
def get_assessment(trace_id: TraceIdPath, assessment_id: AssessmentIdPath, store: StoreDep) -> Response:
    """Return one assessment; 404 if the trace or the assessment does not exist."""
    return _assessment_response(store.get_assessment(trace_id_of(trace_id), assessment_id))


@router.patch(
    "/api/v1/traces/{trace_id}/assessments/{assessment_id}",
    summary="Change an assessment",
    openapi_extra=_body_schema(
        {"type": "object", "properties": _CHANGEABLE, "minProperties": 1, "additionalProperties": False},
        "the fields to change; the others keep their values (metadata is replaced as a whole)",
    ),
)
def patch_assessment(
    trace_id: TraceIdPath, assessment_id: AssessmentIdPath, body: JsonObject, store: StoreDep
) -> Response:
    """Change any of value, rationale, metadata, error and source; bumps `last_update_time_ms`."""
    return _assessment_response(update_assessment(store, trace_id_of(trace_id), assessment_id, body))


@router.delete("/api/v1/traces/{trace_id}/assessments/{assessment_id}", status_code=204, summary="Delete an assessment")
def delete_assessment(trace_id: TraceIdPath, assessment_id: AssessmentIdPath, store: StoreDep) -> Response:
    """Delete one assessment; 404 if the trace or the assessment does not exist."""
    store.delete_assessment(trace_id_of(trace_id), assessment_id)
    return Response(status_code=204)
