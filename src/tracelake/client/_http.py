"""Request plumbing of the client: JSON in and out, bearer token, safe retries, error mapping."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from tracelake.client._errors import ClientError, ServerUnavailableError, error_from_response, error_from_transport
from tracelake.exceptions import ConfigError
from tracelake.version import __version__

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER_S = 10.0


def segment(value: str) -> str:
    """Escape one path segment (experiment names and tag keys may hold `/`, spaces, anything)."""
    return quote(str(value), safe="")


class HttpSession:
    """An httpx client bound to a server's base URL, answering JSON or raising tracelake errors.

    Requests marked idempotent are retried (`retries` times) when the server cannot be reached or
    answers 429/502/503/504, waiting with exponential backoff or the server's `Retry-After`.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float,
        retries: int,
        transport: httpx.BaseTransport | None,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url={base_url!r} is invalid: expected http://host:port or https://…")
        self.base_url = base_url.rstrip("/")
        all_headers = {"User-Agent": f"tracelake/{__version__}", "Accept": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        self._retries = max(0, retries)
        try:
            self._http = httpx.Client(
                base_url=self.base_url,
                timeout=timeout,
                transport=transport,
                headers=all_headers,
                follow_redirects=True,
                auth=auth,
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise ConfigError(f"base_url={base_url!r} is invalid: {exc}") from None

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        not_found_ok: bool = False,
    ) -> Any:
        """Send a request and return its decoded JSON body (None for 204, or 404 if `not_found_ok`).

        Raises:
            NotFoundError, ConflictError, QueryError, ClientError, ServerUnavailableError.
        """
        attempts = 1 + (self._retries if idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                if last or (not idempotent):
                    raise error_from_transport(exc, self.base_url) from None
                self._sleep(attempt, None)
                continue
            except httpx.HTTPError as exc:
                raise error_from_transport(exc, self.base_url) from None
            if response.status_code in _RETRY_STATUSES and not last:
                retry_after = _retry_after(response)
                if retry_after is None or retry_after <= _MAX_RETRY_AFTER_S:
                    self._sleep(attempt, retry_after)
                    continue
            return self._decode(response, not_found_ok)
        raise ServerUnavailableError(f"no answer from {self.base_url}")  # pragma: no cover - loop always returns

    def request_bytes(self, method: str, path: str) -> bytes:
        """Send a request and return the raw body of its 2xx answer (downloads); errors as in `request`."""
        try:
            response = self._http.request(method, path, headers={"Accept": "*/*"})
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, self.base_url) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    def _decode(self, response: httpx.Response, not_found_ok: bool) -> Any:
        if response.status_code == 404 and not_found_ok:
            return None
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"{response.request.method} {response.request.url.path}: the server answered "
                f"HTTP {response.status_code} with a body that is not JSON",
                response.status_code,
            ) from None

    @staticmethod
    def _sleep(attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            time.sleep(retry_after)
            return
        base = min(4.0, 0.25 * (2.0**attempt))
        time.sleep(base / 2 + random.uniform(0, base / 2))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
