"""Ask OTLP senders of a busy server process to reconnect, so that server processes share them.

An exporter keeps one HTTP connection open for as long as it runs. With several server processes
(`tracelake server --workers N`) the kernel gives each new connection to whichever process accepts
it first, and there it stays: a process that got three of four senders' connections writes their
requests in turn while the other idles (bench_ingest, 2 processes and 4 senders: 28,000 to 31,000
against 38,000 spans/s, by how the connections fell). So, much as gRPC servers bound a connection's
age, an answer that leaves requests of other connections waiting their turn in this process asks
its sender to reconnect (`Connection: close`), once the connection has carried
`min_requests` requests (which bounds the reconnects to one in `min_requests` requests). The
sender opens a new connection for its next request, which the process with the least to do tends
to accept first.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ConnectionRecycler"]

#: Connections remembered at most; past it the counts start over (a few early reconnects, no growth).
_MAX_CONNECTIONS: Final = 10_000


class ConnectionRecycler:
    """Counts the requests of each client connection and says when to close one.

    Thread contract: call from the event loop only.
    """

    def __init__(self, min_requests: int) -> None:
        """`min_requests`: requests a connection carries before it may be closed; 0: never close."""
        self._min_requests = min_requests
        self._served: dict[tuple[str, int], int] = {}

    def should_close(self, client: tuple[str, int] | None, waiting: int) -> bool:
        """Count a request answered to `client` (address, port); return whether to close its connection.

        `waiting`: requests of this process that wait their turn as the answer goes out.
        """
        if self._min_requests <= 0 or client is None:
            return False
        served = self._served.get(client, 0) + 1
        if served >= self._min_requests and waiting > 0:
            # A reused port is a new connection: forgetting it here is right either way.
            self._served.pop(client, None)
            return True
        if len(self._served) >= _MAX_CONNECTIONS:
            self._served.clear()
        self._served[client] = served
        return False
