"""Sync agents run on worker threads: the endpoint gives them enough for its concurrent callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import httpx
import pytest

from tracelake.agents import ResponsesAgent, ResponsesRequest, ResponsesResponse, text_output_item
from tracelake.agents.serving import EndpointSettings
from tracelake.exceptions import ConfigError

from .conftest import Endpoint

CALLERS = 60  # more than anyio's default of 40 worker threads


class GatheringAgent(ResponsesAgent):
    """A blocking agent that answers only once `parties` calls are inside `predict` at the same time."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=20)

    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        self.barrier.wait()  # raises BrokenBarrierError (a 500) if the calls cannot all run at once
        return ResponsesResponse(output=[text_output_item("all here")])


async def _call_all(url: str, callers: int) -> list[int]:
    body = {"input": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=callers)) as client:
        answers = await asyncio.gather(*(client.post("/v1/responses", json=body) for _ in range(callers)))
    return [answer.status_code for answer in answers]


def test_sixty_blocking_calls_run_at_once(serve: Callable[..., Endpoint]) -> None:
    endpoint = serve(GatheringAgent(CALLERS), tracing=False)
    assert asyncio.run(_call_all(endpoint.url, CALLERS)) == [200] * CALLERS


def test_max_threads_bounds_the_blocking_calls_in_flight(serve: Callable[..., Endpoint]) -> None:
    # With 10 threads the 11th caller waits for a thread, so 11 parties never gather: all fail.
    agent = GatheringAgent(11)
    agent.barrier = threading.Barrier(11, timeout=2)
    endpoint = serve(agent, tracing=False, max_threads=10)
    statuses = asyncio.run(_call_all(endpoint.url, 11))
    assert statuses.count(200) == 0 and set(statuses) == {500}


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_bad_max_threads_is_a_clear_error(value: object) -> None:
    with pytest.raises(ConfigError, match="max_threads"):
        EndpointSettings(endpoint_name="support", max_threads=value)  # type: ignore[arg-type]
