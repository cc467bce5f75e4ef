"""Test your agent's traces: capture spans in memory with deterministic ids and clock.

With tracelake installed, pytest gets a `tracelake_capture` fixture (this package is registered as a
pytest plugin)::

    def test_agent_traces(tracelake_capture):
        answer("where is my order?")
        root = tracelake_capture.spans[-1]
        assert root.name == "answer" and root.outputs == "..."

Trace ids are 1, 2, 3… (`00000000000000000000000000000001`), span ids likewise, and the clock
starts at 2023-11-14T22:13:20Z and advances 1 ms per reading, so assertions are repeatable.
"""

from __future__ import annotations

from tracelake.testing._capture import TraceCapture, capture_traces

__all__ = ["TraceCapture", "capture_traces"]
