"""The judge model: one chat completion against any OpenAI-compatible endpoint, over httpx.

httpx (a core dependency) rather than the `openai` SDK: a judge needs one POST, and the worker must
not require an extra install. Endpoint, model and key come from `TRACELAKE_JUDGE_*` (or arguments).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tracelake import _config

__all__ = ["JudgeCall", "JudgeClient", "JudgeConfig", "JudgeError"]


class JudgeError(Exception):
    """The judge endpoint failed: unreachable, timed out, an HTTP error, or an unreadable body.

    Attributes:
        code: `JUDGE_TIMEOUT`, `JUDGE_UNAVAILABLE` or `JUDGE_HTTP_<status>`.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class JudgeConfig:
    """Where judge calls go.

    Attributes:
        base_url: the endpoint's base URL, ending in `/v1` for OpenAI-style APIs.
        model: the model name sent with each call.
        api_key: sent as a bearer token; None sends none.
        timeout_s: the longest one call may take (connect, read, write).
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, model: str | None = None, base_url: str | None = None
    ) -> JudgeConfig:
        """Build the configuration from `TRACELAKE_JUDGE_*`, arguments winning over the environment."""
        env = _config.environ() if environ is None else environ
        return cls(
            base_url=_config.JUDGE_BASE_URL.resolve(base_url, env),
            model=_config.JUDGE_MODEL.resolve(model, env),
            api_key=_config.JUDGE_API_KEY.resolve(None, env),
            timeout_s=_config.JUDGE_TIMEOUT_S.resolve(None, env),
        )


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """One completed judge call: what was asked, what came back, and what it used.

    Attributes:
        messages: the chat messages sent.
        text: the assistant's reply.
        model: the model that answered (as the endpoint reported it).
        usage: the endpoint's `usage` object (prompt and completion tokens), if any.
        start_ns, end_ns: wall-clock times of the call.
    """

    messages: Sequence[Mapping[str, str]]
    text: str
    model: str
    usage: Mapping[str, Any] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0


class JudgeClient:
    """Sends judge prompts to one endpoint; thread-safe (one pooled httpx client shared by threads)."""

    def __init__(self, config: JudgeConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=config.timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    def complete(self, messages: Sequence[Mapping[str, str]], model: str | None = None) -> JudgeCall:
        """Ask the judge; return its reply.

        Raises:
            JudgeError: on a timeout, a connection failure, an HTTP error or a body without a reply.
        """
        body = {
            "model": model or self.config.model,
            "messages": list(messages),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        start = time.time_ns()
        try:
            response = self._http.post("chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise JudgeError("JUDGE_TIMEOUT", f"the judge did not answer within {self.config.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise JudgeError("JUDGE_UNAVAILABLE", f"the judge at {self.config.base_url} failed: {exc}") from exc
        end = time.time_ns()
        if response.status_code >= 400:
            raise JudgeError(
                f"JUDGE_HTTP_{response.status_code}",
                f"the judge answered HTTP {response.status_code}: {_brief(response)}",
            )
        try:
            payload = response.json()
            text = payload["choices"][0]["message"]["content"] or ""
        except (ValueError, LookupError, TypeError) as exc:
            raise JudgeError("JUDGE_UNAVAILABLE", f"the judge's response has no reply: {_brief(response)}") from exc
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        return JudgeCall(list(messages), str(text), str(payload.get("model") or body["model"]), usage, start, end)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


def _brief(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] + ("…" if len(text) > 300 else "")
