"""With several server processes, a busy one asks OTLP senders to reconnect (server/rebalance.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from remote.real_server import ThreadServer
from tracelake.exceptions import ConfigError
from tracelake.server import ServerSettings
from tracelake.server.rebalance import ConnectionRecycler

from .otlp_data import protobuf, spans

HEADERS = {"Content-Type": "application/x-protobuf", "x-tracelake-experiment-name": "recycled"}
CLIENT = ("127.0.0.1", 50001)


def test_a_connection_is_closed_only_when_others_wait_and_after_its_minimum() -> None:
    recycler = ConnectionRecycler(3)
    assert [recycler.should_close(CLIENT, waiting=1) for _ in range(4)] == [False, False, True, False]
    # Nobody waiting: the connection stays open however many requests it carried.
    assert not any(recycler.should_close(("127.0.0.1", 50002), waiting=0) for _ in range(10))
    assert recycler.should_close(("127.0.0.1", 50002), waiting=2)


def test_zero_never_closes_and_an_unknown_client_is_left_alone() -> None:
    assert not any(ConnectionRecycler(0).should_close(CLIENT, waiting=5) for _ in range(100))
    assert not ConnectionRecycler(1).should_close(None, waiting=5)


def test_the_default_recycles_only_with_several_workers(tmp_path: Path) -> None:
    assert ServerSettings.for_home(tmp_path).reconnect_after_requests_or_default() == 0
    assert ServerSettings.for_home(tmp_path, workers=2).reconnect_after_requests_or_default() == 10
    never = ServerSettings.for_home(tmp_path, workers=2, reconnect_after_requests=0)
    assert never.reconnect_after_requests_or_default() == 0
    with pytest.raises(ConfigError, match="reconnect_after_requests=-1 is invalid"):
        ServerSettings.for_home(tmp_path, reconnect_after_requests=-1)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadServer]:
    started = ThreadServer(tmp_path / "home", reconnect_after_requests=1, ingest_concurrency=1).start()
    yield started
    started.stop()


def test_an_idle_process_keeps_a_senders_connection(server: ThreadServer) -> None:
    ports: list[int] = []

    def note_port(response: httpx.Response) -> None:  # before the body is read: the socket is open
        ports.append(int(response.extensions["network_stream"].get_extra_info("client_addr")[1]))

    with httpx.Client(base_url=server.url, timeout=30, event_hooks={"response": [note_port]}) as client:
        answers = [client.post("/v1/traces", content=protobuf(spans(n)), headers=HEADERS) for n in range(1, 6)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert not any(answer.headers.get("connection") == "close" for answer in answers)
    assert len(set(ports)) == 1


def test_a_busy_process_asks_a_sender_to_reconnect_and_every_span_is_stored(server: ThreadServer) -> None:
    state = server.app.state
    answers: list[httpx.Response] = []

    def send(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answers.append(client.post("/v1/traces", content=protobuf(spans(n)), headers=HEADERS))

    # Three senders' requests queue behind a write that cannot finish until the lock is released.
    with state.store._write_lock:
        senders = [threading.Thread(target=send, args=(n,)) for n in range(1, 4)]
        for sender in senders:
            sender.start()
        _wait_until(lambda: state.ingest_gate.in_flight == 3, "three requests in progress")
    for sender in senders:
        sender.join(30)
    assert [answer.status_code for answer in answers] == [200] * 3
    # The first answer left two requests in progress, one of them waiting: only it asks to reconnect.
    assert sum(answer.headers.get("connection") == "close" for answer in answers) == 1
    with httpx.Client(base_url=server.url, timeout=30) as client:
        found = client.post("/api/v1/traces/search", json={"max_results": 10}).json()
    assert len(found["traces"]) == 3
