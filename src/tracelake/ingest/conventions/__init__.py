"""Attribute conventions: which ones a span uses, and applying them in precedence order.

Precedence is tracelake > mlflow > openinference > otel_genai > generic OpenTelemetry: for each
field, the first convention that has a value wins. A convention counts as used when the span has
an attribute in its namespace (or, for OTel GenAI, a `gen_ai.*` event).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

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
_IDENTITY_KEYS: Final = frozenset({otel.SESSION, otel.USER, otel.END_USER})

_Mapper = Callable[[Mapping[str, Any], Extraction], None]


class _Shape:
    """What the spans of one attribute-key shape need: the mappers to run and the conventions used.

    Worked out once per shape, so a span pays only for the conventions (and the parts of them) its
    keys can feed, not a lookup of every key every convention knows.
    """

    __slots__ = ("genai", "identity", "mappers", "used", "used_by_events")

    def __init__(self, keys: frozenset[str]) -> None:
        found = set()
        for key in keys:
            dot = key.find(".")
            convention = _NAMESPACES.get(key if dot < 0 else key[:dot])
            if convention is not None:
                found.add(convention)
        # The attribute-keyed conventions above OTel GenAI, highest precedence first.
        mappers: list[_Mapper] = []
        used: list[str] = []
        if tracelake.NAME in found:
            mappers.append(tracelake.mapper(keys))
            used.append(tracelake.NAME)
        if mlflow.NAME in found:
            mappers.append(mlflow.extract)
            used.append(mlflow.NAME)
        if openinference.NAME in found:
            mappers.append(openinference.extract)
            used.append(openinference.NAME)
        self.mappers: tuple[_Mapper, ...] = tuple(mappers)
        self.genai = otel_genai.NAME in found
        # Every span of a shape gets the same (immutable) tuple instead of a list of its own; a
        # shape without `gen_ai.*` keys still uses OTel GenAI when a span has `gen_ai.*` events.
        self.used_by_events: tuple[str, ...] = (*used, otel_genai.NAME)
        self.used: tuple[str, ...] = self.used_by_events if self.genai else tuple(used)
        # Generic OpenTelemetry identity can only fill the session or user from these keys.
        self.identity = not keys.isdisjoint(_IDENTITY_KEYS)


# Span shapes repeat (the same instrumentor emits the same keys), so the plan is cached by key set.
# Bounded because keys come off the wire (flattened lists make many shapes).
_SHAPES: dict[frozenset[str], _Shape] = {}
_SHAPES_MAX: Final = 2048


def _shape(keys: frozenset[str]) -> _Shape:
    if len(_SHAPES) >= _SHAPES_MAX:
        _SHAPES.clear()
    shape = _SHAPES[keys] = _Shape(keys)
    return shape


def extract(record: SpanRecord) -> Extraction:
    """Apply every convention the record uses and return what they found."""
    attributes = record.attributes
    keys = frozenset(attributes)
    shape = _SHAPES.get(keys) or _shape(keys)
    out = Extraction()
    for mapper in shape.mappers:
        mapper(attributes, out)
    events = record.events
    if shape.genai:
        otel_genai.extract(attributes, events, out)
        out.conventions = shape.used
    elif events and any(event.name.startswith(otel_genai.EVENT_PREFIX) for event in events):
        otel_genai.extract(attributes, events, out)
        out.conventions = shape.used_by_events
    else:
        out.conventions = shape.used
    if shape.identity:
        otel.extract(attributes, out)
    return out
