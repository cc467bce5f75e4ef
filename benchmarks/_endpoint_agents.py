"""The agents bench_endpoint.py serves: one that answers at once, and ones that wait like an LLM-backed agent.

A waiting agent waits `custom_inputs["wait_ms"]` of the request: the load generator draws each
request's wait, so it knows how much of the latency it measures is the "model" and how much is the
endpoint and tracing. The wait is a sleep, so the figures hold nothing of a model server's time.
"""

from __future__ import annotations

import asyncio
import time

from tracelake.agents import ResponsesAgent, ResponsesRequest, ResponsesResponse, text_output_item

ANSWER = "It ships tomorrow."
WAIT_KEY = "wait_ms"


def wait_s(request: ResponsesRequest) -> float:
    """The model wait the request asks for, in seconds (0 when it names none)."""
    return float((request.custom_inputs or {}).get(WAIT_KEY, 0)) / 1000


class Trivial(ResponsesAgent):
    """Answers at once: what the endpoint itself costs, and how many requests/s one process serves."""

    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        return ResponsesResponse(output=[text_output_item(ANSWER)])


class AwaitsModel(ResponsesAgent):
    """Awaits a model call, as an agent calling an LLM through an async client (`openai.AsyncOpenAI`) does."""

    async def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        await asyncio.sleep(wait_s(request))
        return ResponsesResponse(output=[text_output_item(ANSWER)])


class BlocksOnModel(ResponsesAgent):
    """The same wait in a plain `def predict` (a blocking client, `openai.OpenAI`): the endpoint runs it on
    one of anyio's worker threads, 40 of them by default, so beyond 40 concurrent requests they queue.
    """

    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        time.sleep(wait_s(request))
        return ResponsesResponse(output=[text_output_item(ANSWER)])


AGENTS: dict[str, type[ResponsesAgent]] = {"trivial": Trivial, "model": AwaitsModel, "model-sync": BlocksOnModel}
