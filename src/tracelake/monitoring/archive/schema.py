"""The Arrow schemas of the three archive tables, and the check that a table still has them.

The schema is versioned (`SCHEMA_VERSION`, recorded in each commit's metadata): adding a nullable
column is a minor change that keeps the version; anything that would break a reader's query bumps it.
docs/archive.md documents every column; keep the two in step.
"""

from __future__ import annotations

import pyarrow as pa

from tracelake.exceptions import TracelakeError

SCHEMA_VERSION = 1

_TS = pa.timestamp("us", tz="UTC")
_STR_MAP = pa.map_(pa.string(), pa.string())

TRACES = pa.schema(
    [
        ("trace_id", pa.string()),
        ("experiment_id", pa.string()),
        ("date", pa.date32()),  # partition: UTC date of request_time
        ("request_time", _TS),
        ("end_time", _TS),
        ("execution_duration_ms", pa.int64()),
        ("state", pa.string()),
        ("name", pa.string()),
        ("request", pa.string()),  # JSON
        ("response", pa.string()),  # JSON
        ("request_preview", pa.string()),
        ("response_preview", pa.string()),
        ("client_request_id", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("tags", _STR_MAP),
        ("metadata", _STR_MAP),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("cached_input_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("input_cost", pa.float64()),
        ("output_cost", pa.float64()),
        ("total_cost", pa.float64()),
        ("span_count", pa.int64()),
        ("spans", pa.string()),  # JSON array of every span, as the REST API serves them
        ("last_update_time", _TS),
        ("archived_time", _TS),
    ]
)

SPANS = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("experiment_id", pa.string()),
        ("date", pa.date32()),  # partition: UTC date of the trace's request_time (a trace stays together)
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("span_type", pa.string()),
        ("status_code", pa.string()),
        ("status_message", pa.string()),
        ("start_time", _TS),
        ("end_time", _TS),
        ("start_time_ns", pa.int64()),
        ("end_time_ns", pa.int64()),
        ("duration_ms", pa.float64()),
        ("model_name", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("cached_input_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("input_cost", pa.float64()),
        ("output_cost", pa.float64()),
        ("total_cost", pa.float64()),
        ("inputs", pa.string()),  # JSON
        ("outputs", pa.string()),  # JSON
        ("attributes", pa.string()),  # JSON object
        ("events", pa.string()),  # JSON array
        ("archived_time", _TS),
    ]
)

ASSESSMENTS = pa.schema(
    [
        ("assessment_id", pa.string()),
        ("trace_id", pa.string()),
        ("experiment_id", pa.string()),
        ("date", pa.date32()),  # partition: UTC date of the trace's request_time
        ("name", pa.string()),
        ("kind", pa.string()),  # feedback | expectation
        ("value", pa.string()),  # JSON
        ("numeric_value", pa.float64()),
        ("rationale", pa.string()),
        ("source_type", pa.string()),
        ("source_id", pa.string()),
        ("span_id", pa.string()),
        ("metadata", _STR_MAP),
        ("error", pa.string()),  # JSON {"error_code", "error_message"}
        ("create_time", _TS),
        ("last_update_time", _TS),
        ("archived_time", _TS),
    ]
)

#: Table name → (schema, merge keys). Tables are written in this order; see sync.py for why.
TABLES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "traces": (TRACES, ("trace_id",)),
    "spans": (SPANS, ("trace_id", "span_id")),
    "assessments": (ASSESSMENTS, ("assessment_id",)),
}

PARTITION_BY = ["date"]


class ArchiveSchemaError(TracelakeError):
    """An archive table's schema is not the one tracelake writes (someone else changed it)."""


def _simple(data_type: pa.DataType) -> str:
    # Delta stores strings and maps in forms that come back as large or view types: compare the kind.
    text = str(data_type)
    for old, new in (("large_string", "string"), ("string_view", "string"), ("large_", "")):
        text = text.replace(old, new)
    return text.replace("timestamp[us, tz=UTC]", "timestamp").replace("date32[day]", "date32")


def check_schema(table: str, found: pa.Schema) -> None:
    """Raise `ArchiveSchemaError` naming each difference if `found` lacks or retypes a column we write.

    Extra columns someone added are tolerated only if nullable would not do: they are reported too,
    since a MERGE would fail on them in a confusing way.
    """
    expected = TABLES[table][0]
    problems: list[str] = []
    found_types = {field.name: field.type for field in found}
    for field in expected:
        if field.name not in found_types:
            problems.append(f"column {field.name!r} is missing")
        elif _simple(found_types[field.name]).split("<")[0] != _simple(field.type).split("<")[0]:
            problems.append(f"column {field.name!r} is {found_types[field.name]}, expected {field.type}")
    extra = sorted(set(found_types) - set(expected.names))
    if extra:
        problems.append(f"unexpected column(s) {', '.join(repr(name) for name in extra)}")
    if problems:
        raise ArchiveSchemaError(
            f"the archive table {table!r} has a schema tracelake did not write ({'; '.join(problems)});"
            f" restore it or archive to a new location (schema version {SCHEMA_VERSION})"
        )
