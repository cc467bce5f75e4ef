"""pytest plugin (entry point `tracelake`): the `tracelake_capture` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracelake.testing._capture import TraceCapture, capture_traces


@pytest.fixture
def tracelake_capture() -> Iterator[TraceCapture]:
    """Capture every span of the test in memory, with sequential ids and a fake clock."""
    with capture_traces() as capture:
        yield capture
