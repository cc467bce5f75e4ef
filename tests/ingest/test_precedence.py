from __future__ import annotations

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, normalize
from tracelake.model import SpanAttributes, TokenUsage

from .records import js, record

TRACELAKE = {
    SpanAttributes.SPAN_TYPE: "CHAT_MODEL",
    SpanAttributes.INPUTS: js("tracelake input"),
    SpanAttributes.MODEL: "tracelake-model",
}
MLFLOW = {
    "mlflow.spanType": js("LLM"),
    "mlflow.spanInputs": js("mlflow input"),
    "mlflow.spanOutputs": js("mlflow output"),
    "mlflow.llm.model": js("mlflow-model"),
}
OPENINFERENCE = {
    "openinference.span.kind": "TOOL",
    "input.value": "oi input",
    "output.value": "oi output",
    "llm.model_name": "oi-model",
    "llm.provider": "oi-provider",
    "llm.token_count.prompt": 3,
    "session.id": "oi-session",
}
GENAI = {
    "gen_ai.operation.name": "embeddings",
    "gen_ai.request.model": "genai-model",
    "gen_ai.provider.name": "genai-provider",
    "gen_ai.usage.input_tokens": 99,
    "gen_ai.usage.output_tokens": 1,
    "gen_ai.conversation.id": "genai-session",
}


def test_first_convention_with_a_value_wins_per_field() -> None:
    attributes = {**GENAI, **OPENINFERENCE, **MLFLOW, **TRACELAKE}
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert span.span_type == "CHAT_MODEL"  # tracelake
    assert span.inputs == "tracelake input"  # tracelake
    assert span.outputs == "mlflow output"  # tracelake has none: mlflow
    assert span.model_name == "tracelake-model"
    assert span.token_usage == TokenUsage(input_tokens=3, total_tokens=3)  # openinference before gen_ai
    assert batch.fields.metadata["session_id"] == "oi-session"
    assert span.attributes[CONVENTIONS_ATTRIBUTE] == ["tracelake", "mlflow", "openinference", "otel_genai"]
    # Only the payloads that were used are dropped; the others stay as raw attributes.
    assert SpanAttributes.INPUTS not in span.attributes
    assert "mlflow.spanOutputs" not in span.attributes
    assert span.attributes["mlflow.spanInputs"] == js("mlflow input")
    assert span.attributes["input.value"] == "oi input"


def test_lower_conventions_fill_what_higher_ones_lack() -> None:
    [batch] = normalize([record(attributes={**GENAI, "openinference.span.kind": "LLM"})])
    [span] = batch.spans
    assert span.span_type == "LLM"
    assert span.model_name == "genai-model"
    assert span.token_usage == TokenUsage(input_tokens=99, output_tokens=1, total_tokens=100)
    assert batch.fields.metadata["session_id"] == "genai-session"


def test_generic_identity_and_resource() -> None:
    resource = {"service.name": "support-bot", "deployment.environment.name": "staging"}
    attributes = {"enduser.id": "end-user", "session.id": "s-1"}
    [batch] = normalize([record(attributes=attributes, resource=resource)])
    assert batch.fields.metadata == {
        "session_id": "s-1",
        "user_id": "end-user",
        "environment": "staging",
        "service_name": "support-bot",
    }
    assert CONVENTIONS_ATTRIBUTE not in batch.spans[0].attributes


def test_older_environment_name_and_default_service_name() -> None:
    resource = {"service.name": "unknown_service:python", "deployment.environment": "dev"}
    [batch] = normalize([record(resource=resource)])
    assert batch.fields.metadata == {"environment": "dev"}


def test_explicit_trace_metadata_wins_over_implied_values() -> None:
    root = record(
        "1" * 16,
        attributes={SpanAttributes.TRACE_METADATA: js({"session_id": "explicit", "environment": "prod"})},
        resource={"deployment.environment.name": "staging"},
    )
    child = record("2" * 16, "1" * 16, {"session.id": "implied", "user.id": "u-2"})
    [batch] = normalize([child, root])
    assert batch.fields.metadata == {"session_id": "explicit", "environment": "prod", "user_id": "u-2"}
