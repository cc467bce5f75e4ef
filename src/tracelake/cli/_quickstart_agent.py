"""The example support agent that `tracelake quickstart` traces.

Small, but shaped like a real agent so its traces show what tracelake records: an AGENT root span
per request, a RETRIEVER span over a knowledge base, a TOOL span looking up an order, and an LLM
span calling an OpenAI-compatible chat endpoint over HTTP with its model and token usage. The trace
carries the session, user, client request id and tags a production app would set. One scripted
request asks about an order that does not exist, so its trace ends in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

import tracelake

__all__ = ["CANNED_REPLIES", "SCENARIOS", "OrderNotFoundError", "SupportAgent", "SupportRequest"]

MODEL = "gpt-4o-mini"
AGENT_VERSION = "1.4.0"


@dataclass(frozen=True, slots=True)
class SupportRequest:
    """One customer message, with who sent it and where."""

    question: str
    user_id: str
    session_id: str
    channel: str = "chat"
    order_id: str | None = None


SCENARIOS: tuple[SupportRequest, ...] = (
    SupportRequest("Where is my order A-1001?", "u-alice", "s-alice-1", order_id="A-1001"),
    SupportRequest("How long does standard shipping take?", "u-alice", "s-alice-1"),
    SupportRequest("Can I return running shoes I bought last week?", "u-bob", "s-bob-1", channel="email"),
    SupportRequest("What is the status of order A-9999?", "u-carol", "s-carol-1", order_id="A-9999"),
    SupportRequest("Is my headset covered by the warranty?", "u-bob", "s-bob-1", channel="email"),
    SupportRequest("Why has order A-1002 not shipped yet?", "u-carol", "s-carol-2", order_id="A-1002"),
)

#: Replies the LLM stub gives (keyed by a substring of the prompt), so the demo reads naturally.
CANNED_REPLIES: dict[str, str] = {
    "order A-1001?": "Your order A-1001 shipped with DHL and should arrive within 2 days.",
    "standard shipping": "Standard shipping takes 3-5 business days; express takes 1-2.",
    "return running shoes": "Yes: unworn items can be returned within 30 days for a full refund.",
    "warranty?": "Yes, electronics such as headsets carry a two-year warranty against defects.",
    "order A-1002": "Order A-1002 is still being packed; it will ship within one business day.",
}

_KNOWLEDGE_BASE: tuple[dict[str, str], ...] = (
    {"id": "kb-returns", "title": "Returns", "text": "Unworn items can be returned within 30 days for a refund."},
    {"id": "kb-shipping", "title": "Shipping", "text": "Standard shipping takes 3-5 business days, express 1-2."},
    {"id": "kb-warranty", "title": "Warranty", "text": "Electronics carry a two-year warranty against defects."},
    {"id": "kb-orders", "title": "Orders", "text": "Orders ship within one business day once packed."},
)

_ORDERS: dict[str, dict[str, str]] = {
    "A-1001": {"status": "shipped", "carrier": "DHL", "eta": "2 days"},
    "A-1002": {"status": "packing", "carrier": "pending", "eta": "3-4 days"},
}


class OrderNotFoundError(LookupError):
    """The order id is unknown: the failure the quickstart shows on purpose."""


def _words(text: str) -> set[str]:
    # Lower-cased, punctuation and plural "s" stripped: enough for "order" to find "Orders".
    return {word.strip("?.,!:;").lower().removesuffix("s") for word in text.split()}


@tracelake.trace(name="search_knowledge_base", span_type="RETRIEVER")
def search_knowledge_base(query: str, top_k: int = 2) -> list[dict[str, Any]]:
    """Return the articles sharing the most words with the query, best first."""
    wanted = _words(query)
    scored = [(len(wanted & _words(doc["title"] + " " + doc["text"])), doc) for doc in _KNOWLEDGE_BASE]
    ranked = sorted((pair for pair in scored if pair[0] > 0), key=lambda pair: -pair[0])
    return [{**doc, "score": score} for score, doc in ranked[:top_k]]


@tracelake.trace(name="lookup_order", span_type="TOOL")
def lookup_order(order_id: str) -> dict[str, str]:
    """Return the order's status from the (in-memory) order system."""
    order = _ORDERS.get(order_id)
    if order is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    return {"order_id": order_id, **order}


class SupportAgent:
    """Answers customer questions with retrieval, an order tool and one chat completion.

    Args:
        base_url: an OpenAI-compatible API root (the quickstart passes the LLM stub's `/v1` URL).
        tags: extra tags for every trace (the quickstart marks its run with one).
    """

    def __init__(self, base_url: str, tags: Mapping[str, str] | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10.0, headers={"Authorization": "Bearer unused"})
        self._tags = dict(tags or {})

    def close(self) -> None:
        self._http.close()

    def handle(self, request: SupportRequest, client_request_id: str) -> str:
        """Answer one request; each call is one trace."""
        inputs = {"question": request.question, "order_id": request.order_id}
        with tracelake.start_span("support_agent", span_type="AGENT", inputs=inputs) as span:
            tracelake.update_current_trace(
                session_id=request.session_id,
                user_id=request.user_id,
                client_request_id=client_request_id,
                tags={"channel": request.channel, "agent_version": AGENT_VERSION, **self._tags},
                metadata={"region": "eu-west-1"},
            )
            documents = search_knowledge_base(request.question)
            order = lookup_order(request.order_id) if request.order_id else None
            answer = self._complete(_messages(request, documents, order))
            span.set_outputs({"answer": answer, "sources": [doc["id"] for doc in documents]})
            return answer

    def _complete(self, messages: list[dict[str, str]]) -> str:
        payload = {"model": MODEL, "messages": messages, "temperature": 0}
        with tracelake.start_span("chat_completion", span_type="LLM", inputs=payload) as span:
            response = self._http.post("/chat/completions", json=payload)
            response.raise_for_status()
            body = response.json()
            usage = body["usage"]
            tracelake.set_llm_usage(
                model=body["model"],
                provider="openai",
                input_tokens=usage["prompt_tokens"],
                output_tokens=usage["completion_tokens"],
            )
            answer: str = body["choices"][0]["message"]["content"]
            span.set_outputs({"role": "assistant", "content": answer, "finish_reason": "stop"})
            return answer


def _messages(
    request: SupportRequest, documents: list[dict[str, Any]], order: dict[str, str] | None
) -> list[dict[str, str]]:
    context = "\n".join(f"[{doc['id']}] {doc['text']}" for doc in documents)
    if order is not None:
        context += f"\nOrder {order['order_id']}: {order['status']}, carrier {order['carrier']}, eta {order['eta']}."
    system = "You are a friendly support agent for an online shop. Answer from the context only.\n" + context
    return [{"role": "system", "content": system}, {"role": "user", "content": request.question}]
