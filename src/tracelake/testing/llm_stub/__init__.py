"""A deterministic OpenAI-compatible HTTP server for offline tests and demos.

Our machines (and many users' CI) have no internet, yet the quickstart, the `openai` autolog and the
LLM judges all need "an LLM" to talk to. `LLMStub` answers the OpenAI REST API on 127.0.0.1 with
replies that are pure functions of the request, so tests can assert exact text and token counts:

    with LLMStub() as stub:
        stub.add_rule("refund", "Refunds take 5 days.")
        stub.add_tool_call("weather", "get_weather", {"city": "Paris"})
        client = openai.OpenAI(base_url=stub.base_url, api_key="unused")

Endpoints: `POST /v1/chat/completions`, `POST /v1/responses` (both with SSE streaming and tool
calls), `POST /v1/embeddings`, `GET /v1/models`.

Replies: the first rule whose `match` occurs in the prompt decides (a reply, tool calls, or an HTTP
error); otherwise a prompt that asks for JSON with a score or verdict gets `DEFAULT_JUDGEMENT`;
otherwise the reply is `"Echo: "` + the last user message (or the tool result the conversation
ends with). Usage counts whitespace-separated words (`count_tokens`); a rule may add cached and
reasoning tokens. Run it standalone with `python -m tracelake.testing.llm_stub --port 8765`.
"""

from __future__ import annotations

from tracelake.testing.llm_stub._rules import DEFAULT_JUDGEMENT, RecordedRequest, StubRule, ToolCall, count_tokens
from tracelake.testing.llm_stub._server import LLMStub

__all__ = ["DEFAULT_JUDGEMENT", "LLMStub", "RecordedRequest", "StubRule", "ToolCall", "count_tokens"]
