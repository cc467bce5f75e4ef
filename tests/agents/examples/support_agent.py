"""An example agent: answers through an OpenAI-compatible LLM (the LLMStub in tests), with a tool."""

from __future__ import annotations

import openai

import tracelake
from tracelake.agents import ResponsesAgent, ResponsesRequest, ResponsesResponse, Usage, text_output_item


@tracelake.trace(span_type="TOOL")
def lookup_order(question: str) -> dict[str, str]:
    return {"status": "shipped"} if "order" in question else {}


class SupportAgent(ResponsesAgent):
    def __init__(self) -> None:
        # The config is already there while __init__ runs.
        self.client = openai.OpenAI(base_url=self.config["llm_base_url"], api_key="unused")
        self.model = self.config.get("model", "gpt-4o-mini")

    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        question = request.input[-1].text  # type: ignore[union-attr]
        facts = lookup_order(question)
        with tracelake.start_span("llm", span_type="CHAT_MODEL") as span:
            completion = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": f"facts: {facts}"}, {"role": "user", "content": question}],
                temperature=self.config.get("temperature", 0.0),
            )
            span.set_outputs(completion.choices[0].message.content)
        usage = completion.usage
        assert usage is not None
        return ResponsesResponse(
            output=[text_output_item(completion.choices[0].message.content or "")],
            usage=Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
            custom_outputs={"facts": facts},
        )
