"""Ingest: span records from any source → tracelake's model, and the one write path into a store.

Both the embedded SDK exporter and the server's OTLP endpoint go through `normalize`/`write_spans`,
so a span means the same thing however it arrived. Imports only `tracelake.model` (and, lazily on
first use, genai-prices).
"""

from __future__ import annotations

from tracelake.ingest.conventions import CONVENTIONS_ATTRIBUTE
from tracelake.ingest.normalize import counted_span_ids, normalize
from tracelake.ingest.previews import compute_previews
from tracelake.ingest.reprice import reprice_span
from tracelake.ingest.usage import compute_cost, normalize_usage
from tracelake.ingest.write import BatchSink, write_spans

__all__ = [
    "BatchSink",
    "CONVENTIONS_ATTRIBUTE",
    "compute_cost",
    "compute_previews",
    "counted_span_ids",
    "normalize",
    "normalize_usage",
    "reprice_span",
    "write_spans",
]
