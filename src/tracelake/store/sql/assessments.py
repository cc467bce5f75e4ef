"""Assessment rows: insert, read, change and delete feedback and expectations on a caller's connection.

Values, metadata and errors are stored as JSON text (the same on SQLite and PostgreSQL); a bool or
numeric value is also kept in `numeric_value`, so that metrics and filters can aggregate scores
without parsing JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, delete, select, update

from tracelake.exceptions import NotFoundError
from tracelake.model import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    AssessmentSourceType,
    TraceInfo,
)
from tracelake.store.assessments import invalid_field, to_json
from tracelake.store.sql.dialect import chunks
from tracelake.store.sql.schema import assessments, spans, traces

_ORDER = (assessments.c.create_time_ms, assessments.c.assessment_id)
_MUTABLE_COLUMNS = (
    "value",
    "numeric_value",
    "rationale",
    "source_type",
    "source_id",
    "metadata",
    "error",
    "last_update_time_ms",
)


# Judges answer "yes"/"no": counted like True/False, so pass rates chart and average like booleans.
_VERDICTS = {"yes": 1.0, "no": 0.0}


def numeric_value(value: Any) -> float | None:
    """Return the value as a float when it is a bool, a finite number or a yes/no verdict, else None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        return _VERDICTS.get(value.strip().lower())
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range: keep it in JSON only
            return None
        return number if math.isfinite(number) else None
    return None


def value_columns(value: Any) -> dict[str, Any]:
    """Return the `value` and `numeric_value` columns of an assessment value."""
    return {"value": None if value is None else to_json(value, "value"), "numeric_value": numeric_value(value)}


def error_column(error: AssessmentError | None) -> str | None:
    return None if error is None else to_json(error.to_dict(), "error")


def metadata_column(metadata: Mapping[str, str]) -> str | None:
    return to_json(dict(metadata), "metadata") if metadata else None


def assessment_row(assessment: Assessment, experiment_id: int) -> dict[str, Any]:
    """Return the `assessments` row of an assessment (of a trace in experiment `experiment_id`)."""
    return {
        "assessment_id": assessment.assessment_id,
        "trace_id": assessment.trace_id,
        "experiment_id": experiment_id,
        "name": assessment.name,
        "kind": assessment.kind.value,
        **value_columns(assessment.value),
        "rationale": assessment.rationale,
        "source_type": assessment.source.source_type.value,
        "source_id": assessment.source.source_id,
        "span_id": assessment.span_id,
        "metadata": metadata_column(assessment.metadata),
        "error": error_column(assessment.error),
        "create_time_ms": assessment.create_time_ms,
        "last_update_time_ms": assessment.last_update_time_ms,
    }


def mutable_values(assessment: Assessment) -> dict[str, Any]:
    """Return the columns an update may change, as they should be for `assessment`."""
    row = assessment_row(assessment, 0)
    return {key: row[key] for key in _MUTABLE_COLUMNS}


def assessment_from_row(row: Mapping[Any, Any]) -> Assessment:
    """Build an `Assessment` from an `assessments` row."""
    error = None if row["error"] is None else json.loads(row["error"])
    return Assessment(
        assessment_id=row["assessment_id"],
        trace_id=row["trace_id"],
        experiment_id=str(row["experiment_id"]),
        name=row["name"],
        kind=AssessmentKind(row["kind"]),
        value=None if row["value"] is None else json.loads(row["value"]),
        source=AssessmentSource(AssessmentSourceType(row["source_type"]), row["source_id"]),
        create_time_ms=row["create_time_ms"],
        last_update_time_ms=row["last_update_time_ms"],
        rationale=row["rationale"],
        span_id=row["span_id"],
        metadata={} if row["metadata"] is None else json.loads(row["metadata"]),
        error=None if error is None else AssessmentError(error["error_code"], error.get("error_message", "")),
    )


def touch_trace(connection: Connection, trace_id: str, now_ms: int) -> int:
    """Bump the trace's `last_update_time` and return its experiment id; `NotFoundError` if missing.

    The bump lets incremental consumers (the archive sync, the UI's "recently updated") notice new
    feedback. On PostgreSQL it also locks the trace row, so a concurrent `delete_traces` cannot
    remove the trace between this check and the insert.
    """
    # UPDATE first (it takes the row lock), then read: no RETURNING, which SQLite before 3.35 lacks.
    where = traces.c.trace_id == trace_id
    if connection.execute(update(traces).where(where).values(last_update_time=now_ms)).rowcount == 0:
        raise NotFoundError(f"no trace with id {trace_id!r}")
    return int(connection.execute(select(traces.c.experiment_id).where(where)).scalar_one())


def require_span(connection: Connection, trace_id: str, span_id: str) -> None:
    """Raise `ConfigError` naming `span_id` unless the trace has a span with that id."""
    query = select(spans.c.span_id).where(spans.c.trace_id == trace_id, spans.c.span_id == span_id)
    if connection.execute(query).first() is None:
        raise invalid_field("span_id", f"{span_id!r} is not a span of trace {trace_id!r}")


def insert(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(assessments.insert().values(**row))


def load(connection: Connection, trace_id: str, assessment_id: str) -> Assessment:
    """Return one assessment of a trace; `NotFoundError` if the trace or the assessment is missing."""
    query = select(assessments).where(assessments.c.trace_id == trace_id, assessments.c.assessment_id == assessment_id)
    row = connection.execute(query).mappings().first()
    if row is None:
        raise _missing(connection, trace_id, assessment_id)
    return assessment_from_row(row)


def _missing(connection: Connection, trace_id: str, assessment_id: str) -> NotFoundError:
    exists = connection.execute(select(traces.c.trace_id).where(traces.c.trace_id == trace_id)).first()
    if exists is None:
        return NotFoundError(f"no trace with id {trace_id!r}")
    return NotFoundError(f"trace {trace_id!r} has no assessment {assessment_id!r}")


def load_for_traces(connection: Connection, trace_ids: Sequence[str]) -> dict[str, list[Assessment]]:
    """Return the assessments of the given traces, oldest first, by trace id (traces without any are absent)."""
    found: dict[str, list[Assessment]] = {}
    for chunk in chunks(list(dict.fromkeys(trace_ids))):
        query = select(assessments).where(assessments.c.trace_id.in_(chunk)).order_by(*_ORDER)
        for row in connection.execute(query).mappings():
            found.setdefault(row["trace_id"], []).append(assessment_from_row(row))
    return found


def change(connection: Connection, trace_id: str, assessment_id: str, values: Mapping[str, Any]) -> None:
    """Overwrite columns of one assessment; `NotFoundError` if it is missing."""
    result = connection.execute(
        update(assessments)
        .where(assessments.c.trace_id == trace_id, assessments.c.assessment_id == assessment_id)
        .values(**values)
    )
    if result.rowcount == 0:
        raise _missing(connection, trace_id, assessment_id)


def remove(connection: Connection, trace_id: str, assessment_id: str) -> None:
    """Delete one assessment; `NotFoundError` if it is missing."""
    result = connection.execute(
        delete(assessments).where(assessments.c.trace_id == trace_id, assessments.c.assessment_id == assessment_id)
    )
    if result.rowcount == 0:
        raise _missing(connection, trace_id, assessment_id)


def latest_trace_id_by_client_request_id(
    connection: Connection, experiment_id: int, client_request_id: str
) -> str | None:
    """Return the id of the most recent trace of the experiment with this client request id, or None."""
    query = (
        select(traces.c.trace_id)
        .where(traces.c.experiment_id == experiment_id, traces.c.client_request_id == client_request_id)
        .order_by(traces.c.request_time.desc(), traces.c.trace_id.desc())
        .limit(1)
    )
    trace_id = connection.execute(query).scalar_one_or_none()
    return None if trace_id is None else str(trace_id)


def with_assessments(info: TraceInfo, found: Mapping[str, list[Assessment]]) -> TraceInfo:
    """Return `info` carrying its trace's assessments."""
    return replace(info, assessments=list(found.get(info.trace_id, [])))
