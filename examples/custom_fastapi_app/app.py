"""A support service that gets production traces from environment variables alone.

Nothing in this file says where traces go: `TRACELAKE_TRACKING_URI`, `TRACELAKE_EXPERIMENT_ID`,
`TRACELAKE_ENVIRONMENT` (and `TRACELAKE_TRACING`) decide, exactly as for a deployed tracelake
endpoint. The LLM is whatever OpenAI-compatible server `OPENAI_BASE_URL` names.

Run it:  python app.py        (PORT, default 8000)
"""

from __future__ import annotations

import json
import os
from typing import Any

import openai
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

import tracelake

MODEL = os.environ.get("SUPPORT_MODEL", "gpt-4o-mini")
LOOKUP_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Status of an order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    },
}

# Every call of the openai client becomes an LLM span (model, messages, token usage, cost).
tracelake.autolog()

app = FastAPI(title="support")
llm = openai.AsyncOpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment


class Question(BaseModel):
    question: str
    user_id: str | None = None
    session_id: str | None = None
    request_id: str | None = None


class Answer(BaseModel):
    answer: str
    trace_id: str | None


@tracelake.trace(span_type="TOOL")
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@app.post("/ask")
@tracelake.trace(span_type="AGENT")
async def ask(question: Question) -> Answer:
    """One request, one trace: this span is its root; the LLM calls and the tool are its children."""
    tracelake.update_current_trace(
        user_id=question.user_id, session_id=question.session_id, client_request_id=question.request_id
    )
    messages: list[Any] = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": question.question},
    ]
    reply = await llm.chat.completions.create(model=MODEL, messages=messages, tools=[LOOKUP_TOOL])
    calls = [call for call in reply.choices[0].message.tool_calls or [] if call.type == "function"]
    if calls:  # the model asked for the order's status: look it up, then let it answer
        messages.append({"role": "assistant", "tool_calls": [call.model_dump() for call in calls]})
        for call in calls:
            result = lookup_order(**json.loads(call.function.arguments or "{}"))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        reply = await llm.chat.completions.create(model=MODEL, messages=messages)
    # Returned so that the caller can attach end-user feedback to this trace.
    return Answer(answer=reply.choices[0].message.content or "", trace_id=tracelake.get_current_trace_id())


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), log_level="warning")
