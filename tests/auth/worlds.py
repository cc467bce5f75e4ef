"""Data for the auth tests: an experiment with a trace, an assessment, a tag and a session; a registered
model with a version and an alias; each made over HTTP by an admin, as a user would."""

from __future__ import annotations

import base64
import itertools
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tracelake.agents.packaging import build_package

_COUNTER = itertools.count(1)
T0 = 1_764_000_000_000_000_000


def package_b64() -> str:
    """A valid agent package (base64), as `log_agent` uploads it."""
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        agent = Path(folder) / "agent.py"
        agent.write_text("# an agent\n", encoding="utf-8")
        package, _ = build_package(agent, ["openai>=1"], {"temperature": 0.2}, {"input": "hi"})
    return base64.b64encode(package).decode()


def otlp_body(trace_id: str, span_id: str, *, client_request_id: str, session: str = "s-1") -> bytes:
    """One finished root span in OTLP/JSON with trace metadata (client request id, session)."""
    metadata = {"client_request_id": client_request_id, "session": session}
    attributes = [
        {"key": "tracelake.span.type", "value": {"stringValue": "AGENT"}},
        {"key": "tracelake.span.inputs", "value": {"stringValue": json.dumps({"question": "hi"})}},
        {"key": "tracelake.span.outputs", "value": {"stringValue": json.dumps({"answer": "hello"})}},
        {"key": "tracelake.trace.metadata", "value": {"stringValue": json.dumps(metadata)}},
    ]
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "agent",
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 5_000_000),
        "attributes": attributes,
    }
    request = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(request).encode()


@dataclass
class World:
    """Everything one route of the walk may name."""

    experiment_id: str
    trace_id: str
    span_id: str
    assessment_id: str
    client_request_id: str
    model: str
    n: int


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def make_world(admin: httpx.Client, package: str, prefix: str = "walk") -> World:
    """Create an experiment (with a trace, assessment, tag) and a model (with version 1, alias champion)."""
    n = next(_COUNTER)
    experiment_id = ok(admin.post("/api/v1/experiments", json={"name": f"{prefix}-{n}"}))["experiment"]["experiment_id"]
    trace_id = f"{n:032x}"
    span_id = f"{n:016x}"
    client_request_id = f"req-{n}"
    response = admin.post(
        "/v1/traces",
        content=otlp_body(trace_id, span_id, client_request_id=client_request_id),
        headers={"content-type": "application/json", "x-tracelake-experiment-id": experiment_id},
    )
    ok(response)
    assessment = ok(
        admin.post(
            f"/api/v1/traces/{trace_id}/assessments", json={"name": "thumbs", "kind": "feedback", "value": False}
        )
    )["assessment"]
    ok(admin.put(f"/api/v1/traces/{trace_id}/tags/k", json={"value": "v"}))
    model = f"walk.models.m{prefix.replace('-', '_')}{n}"
    ok(admin.post(f"/api/v1/registered-models/{model}/versions", json={"package": package}))
    ok(admin.put(f"/api/v1/registered-models/{model}/aliases/champion", json={"version": 1}))
    return World(experiment_id, trace_id, span_id, assessment["assessment_id"], client_request_id, model, n)


@contextmanager
def signed_in_browser(server: Any, username: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in through the login form, as a browser is (session cookie, no redirects)."""
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as browser:
        response = browser.post("/ui/login", data={"username": username, "password": password, "next": "/ui/account"})
        assert response.status_code == 303, response.text
        yield browser


def csrf_of(page: str) -> str:
    """The CSRF field of a page's form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)
