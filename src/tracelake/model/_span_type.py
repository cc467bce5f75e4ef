"""Span types: what kind of step a span records."""

from __future__ import annotations

from enum import Enum


class SpanType(str, Enum):
    """The kinds of steps an agent takes; any other string is accepted as a custom type."""

    AGENT = "AGENT"
    CHAIN = "CHAIN"
    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    PARSER = "PARSER"
    MEMORY = "MEMORY"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value


def span_type_name(value: str | SpanType | None) -> str:
    """Return the stored name of a span type; custom strings pass through unchanged."""
    if value is None:
        return SpanType.UNKNOWN.value
    if isinstance(value, SpanType):
        return value.value
    return str(value)
