"""End to end in embedded mode (the default store under TRACELAKE_HOME): autolog → ingest → store → read."""

from __future__ import annotations

from collections.abc import Iterator

import genai_prices
import openai
import pytest

import tracelake
from tracelake.testing.llm_stub import LLMStub


@pytest.fixture(autouse=True)
def _traced() -> Iterator[None]:
    tracelake.autolog(libraries=["openai"])
    yield
    tracelake.autolog(disable=True)


def _price(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None)
    return float(genai_prices.calc_price(usage, model_ref=model, provider_id="openai").total_price)


def test_trace_totals_add_up_the_llm_calls(stub: LLMStub, client: openai.OpenAI) -> None:
    stub.add_rule("plan", "First check the order, then answer.", cached_tokens=2)
    tracelake.set_experiment("support-agent")

    @tracelake.trace(span_type="AGENT")
    def answer(question: str) -> str:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"plan: {question}"}])
        response = client.responses.create(model="gpt-4o-mini", input=question)
        return response.output_text

    assert answer("where is order 42?") == "Echo: where is order 42?"
    assert tracelake.flush(30)

    (found,) = tracelake.search_traces()
    trace = tracelake.get_trace(found.info.trace_id)
    spans = {span.name: span for span in trace.data.spans}
    assert set(spans) >= {"ChatCompletion", "Response"}
    assert spans["ChatCompletion"].model_name == "gpt-4o"
    assert spans["Response"].model_name == "gpt-4o-mini"
    assert trace.info.token_usage is not None
    # plan: where is order 42?  → 5 input tokens (2 cached), 6 output; where is order 42? → 4 in, 5 out.
    assert trace.info.token_usage.input_tokens == 5 + 4
    assert trace.info.token_usage.output_tokens == 6 + 5
    assert trace.info.token_usage.cached_input_tokens == 2
    assert trace.info.cost is not None
    expected = _price("gpt-4o", 5, 6, cached=2) + _price("gpt-4o-mini", 4, 5)
    assert trace.info.cost.total_cost == pytest.approx(expected, rel=1e-9)
    llm_traces = tracelake.search_traces(filter_string="span.model = 'gpt-4o' AND cost > 0")
    assert [t.info.trace_id for t in llm_traces] == [trace.info.trace_id]


def test_unknown_model_has_no_cost(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="my-own-finetune", messages=[{"role": "user", "content": "hi"}])
    assert tracelake.flush(30)

    (trace,) = tracelake.search_traces()
    info = trace.info
    assert info.token_usage is not None
    assert info.token_usage.input_tokens == 1
    assert info.cost is None
    (span,) = tracelake.get_trace(info.trace_id).data.spans
    assert span.model_name == "my-own-finetune"
    assert span.cost is None
