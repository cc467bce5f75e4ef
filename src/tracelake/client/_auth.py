"""A service principal's client id and secret, exchanged for short-lived tokens (OAuth 2.0 client credentials).

Used by the client and the SDK's exporter when TRACELAKE_CLIENT_ID and TRACELAKE_CLIENT_SECRET are set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator

import httpx

from tracelake.version import __version__

__all__ = ["TOKEN_PATH", "ClientCredentialsAuth"]

logger = logging.getLogger("tracelake")

TOKEN_PATH = "/api/v1/oauth/token"
# Renew this long before the token expires, so a request never carries one that lapses in flight.
_REFRESH_MARGIN_S = 60.0


class ClientCredentialsAuth(httpx.Auth):
    """httpx auth that gets an access token from the server's token endpoint and renews it.

    The token is fetched at the first request, renewed shortly before it expires, and fetched anew
    once if the server answers 401 (revoked, or the server restarted on another database). If the
    server refuses the credentials, requests go out without a token and the server's 401 is what
    the caller sees; the reason is logged once. Thread-safe: the SDK's export thread and the app's
    threads share one instance.

    Args:
        base_url: the server, e.g. `https://tracelake.example.com`.
        client_id: the service principal's client id.
        client_secret: its secret (sent to the token endpoint only).
        timeout: seconds for the token request.
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.token_url = base_url.rstrip("/") + TOKEN_PATH
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._transport = transport
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._warned = False

    def __repr__(self) -> str:  # never show the secret
        return f"ClientCredentialsAuth(client_id={self._client_id!r})"

    def token(self, *, renew: bool = False) -> str | None:
        """Return a live access token, fetching one if needed (None if the server refused the credentials).

        Raises:
            httpx.TransportError: the server cannot be reached.
        """
        with self._lock:
            if not renew and self._token is not None and time.monotonic() < self._expires_at - _REFRESH_MARGIN_S:
                return self._token
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.post(
                    self.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._client_secret,
                    },
                    headers={"User-Agent": f"tracelake/{__version__}", "Accept": "application/json"},
                )
            if response.status_code != 200:
                self._token = None
                if not self._warned:
                    self._warned = True
                    logger.warning(
                        "tracelake: the server refused the client credentials of %s (HTTP %d): %s",
                        self._client_id,
                        response.status_code,
                        response.text[:200],
                    )
                return None
            try:
                data = response.json()
                self._token = str(data["access_token"])
                self._expires_at = time.monotonic() + float(data.get("expires_in", 300))
            except (ValueError, KeyError, TypeError):
                logger.warning(
                    "tracelake: the token endpoint %s answered something that is not a token", self.token_url
                )
                return None
            self._warned = False
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request with the current token; on 401, renew once and send it again."""
        token = self.token()
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and token is not None:
            renewed = self.token(renew=True)
            if renewed is not None:
                request.headers["Authorization"] = f"Bearer {renewed}"
                yield request
