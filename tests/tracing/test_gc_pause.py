"""The export thread defers the garbage collector per batch, and always gives it back (tracing/_gc.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import pytest

import tracelake
from tracelake.model import SpanRecord
from tracelake.tracing import ExperimentRef
from tracelake.tracing.export._gc import CollectorPause


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


class CollectorWatchingSink:
    """Records whether the collector was enabled while each batch was handed over."""

    def __init__(self) -> None:
        self.enabled_during_export: list[bool] = []

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        self.enabled_during_export.append(gc.isenabled())

    def shutdown(self) -> None:
        pass


def _export_one_trace(sink: CollectorWatchingSink, **settings: object) -> None:
    tracelake.configure(sink=sink, **settings)  # type: ignore[arg-type]
    with tracelake.start_span("root"):
        pass
    assert tracelake.flush(10)


def test_exporter_defers_the_collector_during_a_batch_and_gives_it_back() -> None:
    sink = CollectorWatchingSink()
    _export_one_trace(sink)
    assert sink.enabled_during_export == [False]
    assert gc.isenabled()


def test_deferral_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = CollectorWatchingSink()
    monkeypatch.setenv("TRACELAKE_EXPORT_DEFER_GC", "false")
    _export_one_trace(sink)
    assert sink.enabled_during_export == [True]


def test_a_collector_the_app_disabled_stays_disabled() -> None:
    sink = CollectorWatchingSink()
    gc.disable()
    _export_one_trace(sink)
    assert sink.enabled_during_export == [False]
    assert not gc.isenabled()


def test_pause_enables_the_collector_when_the_last_window_closes() -> None:
    pause = CollectorPause(max_pause_s=60)
    with pause:
        assert not gc.isenabled()
        with pause:  # another exporter's window
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pause_never_lasts_longer_than_its_limit_and_then_rests() -> None:
    clock = FakeClock()
    pause = CollectorPause(max_pause_s=0.5, clock=clock)
    pause.__enter__()  # an exporter's window that stays open (a pipeline busy all the time)
    assert not gc.isenabled()
    clock.now += 0.6  # past the limit: the next window's end gives the collector back
    with pause:
        pass
    assert gc.isenabled(), "a pipeline busy all the time must not keep the collector off"
    with pause:  # the long window is still open: no new deferral until every window has closed
        assert gc.isenabled()
    pause.__exit__(None, None, None)  # the long window closes
    assert gc.isenabled()
    with pause:  # resting for a quarter of the limit after an overdue window
        assert gc.isenabled()
    clock.now += 0.2
    with pause:
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pause_gives_the_collector_back_when_the_batch_raises() -> None:
    pause = CollectorPause(max_pause_s=60)
    with pytest.raises(RuntimeError), pause:
        raise RuntimeError("conversion failed")
    assert gc.isenabled()
