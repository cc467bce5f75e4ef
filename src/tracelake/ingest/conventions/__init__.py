"""Attribute conventions: which ones a span uses, and applying them in precedence order.

Precedence is tracelake > mlflow > openinference > otel_genai > generic OpenTelemetry: for each
field, the first convention that has a value wins. A convention counts as used when the span has
an attribute in its namespace (or, for OTel GenAI, a `gen_ai.*` event).
"""

from __future__ import annotations

from typing import Final

from tracelake.ingest.conventions import mlflow, openinference, otel, otel_genai, tracelake
from tracelake.ingest.conventions._base import UNSET, Extraction
from tracelake.model import SpanRecord

__all__ = ["CONVENTIONS_ATTRIBUTE", "Extraction", "UNSET", "extract"]

#: Span attribute where ingest records the conventions a span used, in precedence order.
CONVENTIONS_ATTRIBUTE: Final = "tracelake.ingest.conventions"

_NAMESPACES: Final[dict[str, str]] = {
    "tracelake": tracelake.NAME,
    "mlflow": mlflow.NAME,
    otel_genai.NAMESPACE: otel_genai.NAME,
    **{namespace: openinference.NAME for namespace in openinference.NAMESPACES},
}


# Span shapes repeat (the same instrumentor emits the same keys), so detection is cached by key
# set. Bounded because keys come off the wire (flattened lists make many shapes).
_DETECTED: dict[frozenset[str], frozenset[str]] = {}
_DETECTED_MAX: Final = 2048


def _detect(keys: frozenset[str]) -> frozenset[str]:
    found = set()
    for key in keys:
        dot = key.find(".")
        convention = _NAMESPACES.get(key if dot < 0 else key[:dot])
        if convention is not None:
            found.add(convention)
    if len(_DETECTED) >= _DETECTED_MAX:
        _DETECTED.clear()
    result = _DETECTED[keys] = frozenset(found)
    return result


def extract(record: SpanRecord) -> Extraction:
    """Apply every convention the record uses and return what they found."""
    attributes = record.attributes
    keys = frozenset(attributes)
    found = _DETECTED.get(keys)
    if found is None:
        found = _detect(keys)
    events = record.events
    genai = otel_genai.NAME in found or (
        bool(events) and any(event.name.startswith(otel_genai.EVENT_PREFIX) for event in events)
    )

    out = Extraction()
    if tracelake.NAME in found:
        tracelake.extract(attributes, out)
    if mlflow.NAME in found:
        mlflow.extract(attributes, out)
    if openinference.NAME in found:
        openinference.extract(attributes, out)
    if genai:
        otel_genai.extract(attributes, events, out)
    out.conventions = _used(found, genai)
    otel.extract(attributes, out)
    return out


# Every span of a shape gets the same (immutable) tuple instead of a list of its own.
_USED: dict[tuple[frozenset[str], bool], tuple[str, ...]] = {}


def _used(found: frozenset[str], genai: bool) -> tuple[str, ...]:
    """The conventions a span used, in precedence order."""
    key = (found, genai)
    used = _USED.get(key)
    if used is None:
        if len(_USED) >= _DETECTED_MAX:
            _USED.clear()
        names = [tracelake.NAME, mlflow.NAME, openinference.NAME]
        used = _USED[key] = (*(name for name in names if name in found), *((otel_genai.NAME,) if genai else ()))
    return used
