from __future__ import annotations

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, normalize
from tracelake.model import Cost, TokenUsage

from .records import js, record

# MLflow JSON-encodes every attribute value, strings included.
MLFLOW_LLM_SPAN = {
    "mlflow.traceRequestId": js("tr-0af7651916cd43dd8448eb211c80319c"),
    "mlflow.spanType": js("CHAT_MODEL"),
    "mlflow.spanFunctionName": js("create"),
    "mlflow.spanInputs": js({"messages": [{"role": "user", "content": "Hello"}], "model": "gpt-4o-mini"}),
    "mlflow.spanOutputs": js({"choices": [{"message": {"role": "assistant", "content": "Hi there"}}]}),
    "mlflow.chat.tokenUsage": js(
        {"input_tokens": 2000, "output_tokens": 100, "total_tokens": 2100, "cache_read_input_tokens": 1000}
    ),
    "mlflow.llm.model": js("gpt-4o-mini"),
    "mlflow.llm.provider": js("openai"),
    "mlflow.message.format": js("openai"),
}
MLFLOW_ROOT_SPAN = {
    "mlflow.spanType": js("AGENT"),
    "mlflow.spanInputs": js("plain question"),
    "mlflow.spanOutputs": js("plain answer"),
    "mlflow.traceTag.team": js("search"),
    "mlflow.traceTag.version": js("7"),
    "session.id": js("s-7"),
    "user.id": "alice",
}


def test_mlflow_llm_span() -> None:
    [batch] = normalize([record(attributes=MLFLOW_LLM_SPAN)])
    [span] = batch.spans
    assert span.span_type == "CHAT_MODEL"
    assert span.inputs == {"messages": [{"role": "user", "content": "Hello"}], "model": "gpt-4o-mini"}
    assert span.outputs == {"choices": [{"message": {"role": "assistant", "content": "Hi there"}}]}
    assert span.model_name == "gpt-4o-mini"
    assert span.token_usage == TokenUsage(
        input_tokens=2000, output_tokens=100, total_tokens=2100, cached_input_tokens=1000
    )
    assert span.cost is not None
    assert "mlflow.spanInputs" not in span.attributes
    assert span.attributes["mlflow.spanFunctionName"] == js("create")
    assert span.attributes[CONVENTIONS_ATTRIBUTE] == ["mlflow"]


def test_mlflow_root_span_tags_and_identity() -> None:
    [batch] = normalize([record(attributes=MLFLOW_ROOT_SPAN)])
    [span] = batch.spans
    assert span.span_type == "AGENT"
    assert span.inputs == "plain question"
    assert batch.fields.tags == {"team": "search", "version": "7"}
    assert batch.fields.metadata == {"session_id": "s-7", "user_id": "alice"}
    assert batch.fields.request_preview == "plain question"
    assert batch.fields.response_preview == "plain answer"


def test_mlflow_cost_is_kept() -> None:
    attributes = {**MLFLOW_LLM_SPAN, "mlflow.llm.cost": js({"input_cost": 0.1, "output_cost": 0.2})}
    [batch] = normalize([record(attributes=attributes)])
    assert batch.spans[0].cost == Cost(0.1, 0.2, 0.1 + 0.2)
