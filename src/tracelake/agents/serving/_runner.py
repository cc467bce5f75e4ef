"""Calling an agent from the event loop: sync agents run on worker threads, async ones on the loop.

Worker threads get a copy of the caller's context (anyio does this), so the request's root span is
the current span inside the agent and its AGENT span and everything below become children.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.to_thread

from tracelake.agents._agent import ResponsesAgent, is_async, overrides
from tracelake.agents._stream import reduce_stream, response_events
from tracelake.agents._types import ResponsesRequest, ResponsesResponse, ResponsesStreamEvent

__all__ = ["AgentStream", "predict"]

_END = object()


async def predict(agent: ResponsesAgent, request: ResponsesRequest) -> ResponsesResponse:
    """Return the agent's whole response (collecting its stream if it only streams)."""
    if overrides(agent, "predict") or not overrides(agent, "predict_stream"):
        if is_async(agent, "predict"):
            result: ResponsesResponse = await agent.predict(request)  # type: ignore[misc]
            return result
        return await anyio.to_thread.run_sync(agent.predict, request)
    if is_async(agent, "predict_stream"):
        stream: AsyncIterator[ResponsesStreamEvent] = agent.predict_stream(request)  # type: ignore[assignment]
        return reduce_stream([event async for event in stream])
    # The base `predict` collects the (traced) sync stream.
    return await anyio.to_thread.run_sync(agent.predict, request)


class AgentStream:
    """The agent's stream events, one `next()` at a time, whatever kind of function produces them."""

    def __init__(self, agent: ResponsesAgent, request: ResponsesRequest) -> None:
        self._sync: Iterator[ResponsesStreamEvent] | None = None
        self._async: AsyncIterator[ResponsesStreamEvent] | None = None
        if overrides(agent, "predict_stream"):
            if is_async(agent, "predict_stream"):
                self._async = agent.predict_stream(request)  # type: ignore[assignment]
            else:
                self._sync = agent.predict_stream(request)
        elif is_async(agent, "predict"):
            self._async = _replay(agent, request)
        else:
            self._sync = agent.predict_stream(request)  # the base class replays `predict`

    async def next(self) -> ResponsesStreamEvent | None:
        """Return the next event, or None at the end; the agent's exception propagates."""
        if self._async is not None:
            try:
                return await self._async.__anext__()
            except StopAsyncIteration:
                return None
        assert self._sync is not None
        item: Any = await anyio.to_thread.run_sync(next, self._sync, _END)
        return None if item is _END else item

    async def aclose(self) -> None:
        """Stop the agent's generator early (its AGENT span ends with what it yielded)."""
        if self._async is not None:
            close = getattr(self._async, "aclose", None)
            if close is not None:
                await close()
        elif self._sync is not None:
            close_sync = getattr(self._sync, "close", None)
            if close_sync is not None:
                await anyio.to_thread.run_sync(close_sync)


async def _replay(agent: ResponsesAgent, request: ResponsesRequest) -> AsyncIterator[ResponsesStreamEvent]:
    response: ResponsesResponse = await agent.predict(request)  # type: ignore[misc]
    for event in response_events(response):
        yield event
