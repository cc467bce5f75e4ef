from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

import tracelake
from tracelake.testing import TraceCapture


def test_sync_function_records_inputs_outputs_and_keeps_signature(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace(span_type="TOOL", attributes={"team": "care"})
    def lookup(order_id: str, verbose: bool = False) -> dict[str, str]:
        """Find an order."""
        return {"id": order_id, "state": "shipped"}

    assert lookup("o-1", verbose=True) == {"id": "o-1", "state": "shipped"}
    assert lookup.__name__ == "lookup"
    assert lookup.__doc__ == "Find an order."
    assert list(inspect.signature(lookup).parameters) == ["order_id", "verbose"]
    assert inspect.signature(lookup) == inspect.signature(lookup.__wrapped__)  # type: ignore[attr-defined]
    assert tracelake_capture.span_dicts() == [
        {
            "name": "test_sync_function_records_inputs_outputs_and_keeps_signature.<locals>.lookup",
            "span_type": "TOOL",
            "parent": None,
            "status": "OK",
            "inputs": {"order_id": "o-1", "verbose": True},
            "outputs": {"id": "o-1", "state": "shipped"},
            "attributes": {"team": "care"},
        }
    ]


def test_nested_calls_form_one_trace_with_parents(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace(name="tool")
    def tool(x: int) -> int:
        return x * 2

    @tracelake.trace(name="agent", span_type=tracelake.SpanType.AGENT)
    def agent(x: int) -> int:
        with tracelake.start_span("plan", span_type="CHAIN", inputs={"x": x}) as span:
            span.set_outputs({"steps": 1})
        return tool(x) + tool(x + 1)

    assert agent(1) == 6
    spans = tracelake_capture.spans
    assert [(s.name, tracelake_capture.span_dicts()[i]["parent"]) for i, s in enumerate(spans)] == [
        ("plan", "agent"),
        ("tool", "agent"),
        ("tool", "agent"),
        ("agent", None),
    ]
    assert len({s.trace_id for s in spans}) == 1
    assert all(len(s.trace_id) == 32 and len(s.span_id) == 16 for s in spans)
    assert spans[-1].span_type == "AGENT"


async def test_async_function(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return f"body of {url}"

    assert await fetch("http://x") == "body of http://x"
    (span,) = tracelake_capture.spans
    assert span.inputs == {"url": "http://x"}
    assert span.outputs == "body of http://x"


async def test_concurrent_async_tasks_keep_separate_parents(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace(name="child")
    async def child(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @tracelake.trace(name="root")
    async def root(i: int) -> int:
        return await child(i)

    await asyncio.gather(*(root(i) for i in range(5)))
    spans = tracelake_capture.spans
    roots = {s.span_id: s for s in spans if s.name == "root"}
    for span in spans:
        if span.name == "child":
            parent = roots[span.parent_id or ""]
            assert parent.trace_id == span.trace_id
            assert parent.inputs == span.inputs
    assert len({s.trace_id for s in spans}) == 5


def test_generator_span_covers_iteration_and_aggregates_items(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace(span_type="LLM")
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            with tracelake.start_span(f"chunk-{i}"):
                pass
            yield f"t{i}"

    assert list(stream(3)) == ["t0", "t1", "t2"]
    dicts = tracelake_capture.span_dicts()
    assert dicts[-1]["outputs"] == ["t0", "t1", "t2"]
    assert [d["parent"] for d in dicts[:-1]] == [dicts[-1]["name"]] * 3


def test_generator_output_reducer_and_early_close(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace(output_reducer="".join)
    def words() -> Iterator[str]:
        yield "hel"
        yield "lo"
        yield "!"

    assert list(words()) == ["hel", "lo", "!"]
    partial = words()
    assert next(partial) == "hel"
    partial.close()
    spans = tracelake_capture.spans
    assert [s.outputs for s in spans] == ["hello!", "hel"]
    assert all(s.status.code.value == "OK" for s in spans)


def test_generator_exception_is_recorded_and_reraised(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("gone")

    with pytest.raises(KeyError):
        list(broken())
    (span,) = tracelake_capture.spans
    assert span.status.code.value == "ERROR"
    assert span.events[0].attributes["exception.type"] == "KeyError"


async def test_async_generator(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    async def tokens() -> AsyncIterator[str]:
        for t in ("a", "b"):
            await asyncio.sleep(0)
            yield t

    assert [t async for t in tokens()] == ["a", "b"]
    (span,) = tracelake_capture.spans
    assert span.outputs == ["a", "b"]


def test_methods_classmethods_staticmethods(tracelake_capture: TraceCapture) -> None:
    class Agent:
        def __init__(self, name: str) -> None:
            self.name = name

        @tracelake.trace
        def run(self, question: str) -> str:
            return f"{self.name}: {question}"

        @tracelake.trace
        @classmethod
        def build(cls, name: str) -> Agent:
            return cls(name)

        @tracelake.trace
        @staticmethod
        def helper(x: int) -> int:
            return x + 1

    agent = Agent.build("bot")
    assert agent.run("hi") == "bot: hi"
    assert Agent.helper(1) == 2
    inputs = [s.inputs for s in tracelake_capture.spans]
    assert inputs == [{"name": "bot"}, {"question": "hi"}, {"x": 1}]


def test_recursive_function(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace(name="fact")
    def fact(n: int) -> int:
        return 1 if n <= 1 else n * fact(n - 1)

    assert fact(5) == 120
    dicts = tracelake_capture.span_dicts()
    assert len(dicts) == 5
    assert [d["parent"] for d in dicts] == ["fact", "fact", "fact", "fact", None]
    assert dicts[-1]["outputs"] == 120


def test_exception_recorded_then_reraised_unchanged(tracelake_capture: TraceCapture) -> None:
    error = ValueError("bad order id")

    @tracelake.trace
    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        fail()
    assert caught.value is error
    (span,) = tracelake_capture.spans
    assert span.status.code.value == "ERROR"
    assert span.status.message == "ValueError: bad order id"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad order id"
    assert "raise error" in event.attributes["exception.stacktrace"]


def test_kwargs_are_flattened_and_self_dropped(tracelake_capture: TraceCapture) -> None:
    class Tool:
        @tracelake.trace
        def call(self, *args: int, **options: str) -> int:
            return len(args)

    Tool().call(1, 2, mode="fast")
    (span,) = tracelake_capture.spans
    assert span.inputs == {"args": [1, 2], "mode": "fast"}


def test_set_outputs_in_body_wins_over_return_value(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    def answer() -> str:
        span = tracelake.get_current_span()
        assert span is not None
        span.set_outputs({"text": "curated"})
        return "raw"

    answer()
    assert tracelake_capture.spans[0].outputs == {"text": "curated"}


def test_decorating_twice_traces_once(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    @tracelake.trace
    def once() -> int:
        return 1

    once()
    assert len(tracelake_capture.spans) == 1
