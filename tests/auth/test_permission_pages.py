"""The UI's permissions pages of an experiment and of a registered model (agent): grant and revoke
through the form with a session (CSRF), the effect seen over the REST API, the audit log, bad input
refused with nothing written, and the account page linking to what the caller manages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, AuthServer
from .worlds import csrf_of, ok, signed_in_browser

MODEL = "main.support.agent"


@dataclass(frozen=True)
class Target:
    """A resource with a permissions page: where its page is, and how REST names it."""

    resource_type: str
    resource_id: str
    page: str
    read_path: str
    """A REST route that needs CAN_READ on the resource."""


def _create(server: AuthServer, owner: httpx.Client, resource_type: str) -> Target:
    """Create the resource as `owner` (over REST, so it becomes its CAN_MANAGE holder)."""
    if resource_type == "experiment":
        experiment_id = ok(owner.post("/api/v1/experiments", json={"name": "pages"}))["experiment"]["experiment_id"]
        return Target(
            "experiment",
            experiment_id,
            f"/ui/experiments/{experiment_id}/permissions",
            f"/api/v1/experiments/{experiment_id}",
        )
    ok(owner.post("/api/v1/registered-models", json={"name": MODEL}))
    return Target("registered_model", MODEL, f"/ui/models/{MODEL}/permissions", f"/api/v1/registered-models/{MODEL}")


@contextmanager
def _browser(server: AuthServer, username: str) -> Iterator[httpx.Client]:
    with signed_in_browser(server, username, PASSWORD) as browser:
        yield browser


def _grants(owner: httpx.Client, target: Target) -> dict[str, str]:
    listed = ok(owner.get(f"/api/v1/permissions/{target.resource_type}/{target.resource_id}"))["permissions"]
    return {grant["principal"]: grant["level"] for grant in listed}


def _permission_events(server: AuthServer, target: Target) -> list[dict[str, Any]]:
    with server.client(server.tokens["root"]) as root:
        events = ok(root.get("/api/v1/audit-log", params={"max_results": 1000}))["events"]
    return [
        event
        for event in reversed(events)
        if event["action"].startswith("permission.") and event["resource_id"] == target.resource_id
    ]


@pytest.mark.parametrize("resource_type", ["registered_model", "experiment"])
def test_grant_and_revoke_through_the_form_change_what_rest_allows(auth_server: AuthServer, resource_type: str) -> None:
    auth_server.user("alice")
    bob = auth_server.user("bob")
    robot, _ = auth_server.auth.create_service_principal("robot", auth_server.principal("alice"))
    with auth_server.client(auth_server.tokens["alice"]) as alice, auth_server.client(bob) as bob_api:
        target = _create(auth_server, alice, resource_type)
        assert bob_api.get(target.read_path).status_code == 404
        with _browser(auth_server, "alice") as browser:
            page = browser.get(target.page)
            assert page.status_code == 200, page.text
            assert "<td>alice</td>" in page.text and "CAN_MANAGE" in page.text
            csrf = csrf_of(page.text)

            granted = browser.post(
                target.page, data={"csrf_token": csrf, "action": "grant", "principal": "bob", "level": "CAN_READ"}
            )
            assert granted.status_code == 303 and granted.headers["location"] == target.page
            assert bob_api.get(target.read_path).status_code == 200
            by_client_id = browser.post(
                target.page,
                data={"csrf_token": csrf, "action": "grant", "principal": robot.name, "level": "CAN_EDIT"},
            )
            assert by_client_id.status_code == 303
            assert _grants(alice, target) == {"alice": "CAN_MANAGE", "bob": "CAN_READ", robot.name: "CAN_EDIT"}
            shown = browser.get(target.page).text
            assert "<td>bob</td>" in shown and robot.name in shown

            revoked = browser.post(target.page, data={"csrf_token": csrf, "action": "revoke", "principal": "bob"})
            assert revoked.status_code == 303
            assert bob_api.get(target.read_path).status_code == 404
            assert _grants(alice, target) == {"alice": "CAN_MANAGE", robot.name: "CAN_EDIT"}

    events = _permission_events(auth_server, target)
    assert [(event["actor"], event["action"], event["resource_type"], event["detail"]) for event in events] == [
        ("alice", "permission.grant", resource_type, {"principal": "bob", "level": "CAN_READ"}),
        ("alice", "permission.grant", resource_type, {"principal": robot.name, "level": "CAN_EDIT"}),
        ("alice", "permission.revoke", resource_type, {"principal": "bob"}),
    ]
    assert all(event["request_id"] for event in events)


def test_bad_form_input_is_refused_clearly_and_writes_nothing(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    auth_server.user("bob")
    with auth_server.client(auth_server.tokens["alice"]) as alice, _browser(auth_server, "alice") as browser:
        target = _create(auth_server, alice, "registered_model")
        csrf = csrf_of(browser.get(target.page).text)
        grant_bob = {"action": "grant", "principal": "bob", "level": "CAN_EDIT"}
        refused: list[tuple[dict[str, str], dict[str, str], int, str]] = [
            # (form, extra headers, status, what the answer says)
            (
                {**grant_bob, "csrf_token": csrf, "principal": "nobody"},
                {},
                400,
                "No user or client id &#x27;nobody&#x27;",
            ),
            (
                {**grant_bob, "csrf_token": csrf, "level": "CAN_EVERYTHING"},
                {},
                400,
                "Unknown level &#x27;CAN_EVERYTHING",
            ),
            ({**grant_bob, "csrf_token": csrf, "level": ""}, {}, 400, "choose one of CAN_READ, CAN_EDIT, CAN_MANAGE"),
            ({**grant_bob, "csrf_token": csrf, "principal": " "}, {}, 400, "Name a user or"),
            ({**grant_bob, "csrf_token": csrf, "action": "delete"}, {}, 400, "Unknown action &#x27;delete&#x27;"),
            ({"csrf_token": csrf, "action": "revoke", "principal": "bob"}, {}, 400, "holds no permission"),
            (grant_bob, {}, 403, "CSRF token"),
            ({**grant_bob, "csrf_token": "guessed"}, {}, 403, "CSRF token"),
            ({**grant_bob, "csrf_token": csrf}, {"Sec-Fetch-Site": "cross-site"}, 403, "cross-site request refused"),
            ({**grant_bob, "csrf_token": csrf}, {"Origin": "https://evil.example"}, 403, "cross-site request refused"),
        ]
        before_events = len(_permission_events(auth_server, target))
        for form, headers, status, message in refused:
            answer = browser.post(target.page, data=form, headers=headers)
            assert (answer.status_code, message in answer.text) == (status, True), (form, answer.text)
        # What was sent is shown escaped, never as markup.
        hostile = browser.post(
            target.page, data={**grant_bob, "csrf_token": csrf, "principal": "<script>alert(1)</script>"}
        )
        assert hostile.status_code == 400
        assert "<script>alert" not in hostile.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
        assert _grants(alice, target) == {"alice": "CAN_MANAGE"}
        assert len(_permission_events(auth_server, target)) == before_events


def test_only_managers_see_or_use_a_model_permissions_page(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    auth_server.user("bob")
    auth_server.user("carol")
    with auth_server.client(auth_server.tokens["alice"]) as alice:
        target = _create(auth_server, alice, "registered_model")
        ok(alice.put(f"/api/v1/permissions/registered_model/{MODEL}/bob", json={"level": "CAN_EDIT"}))
    form = {"action": "grant", "principal": "carol", "level": "CAN_MANAGE"}
    for user, status in (("bob", 403), ("carol", 404)):
        with _browser(auth_server, user) as browser:
            assert browser.get(target.page).status_code == status
            csrf = csrf_of(browser.get("/ui/account").text)
            assert browser.post(target.page, data={**form, "csrf_token": csrf}).status_code == status
    with auth_server.client(auth_server.tokens["alice"]) as alice:
        assert _grants(alice, target) == {"alice": "CAN_MANAGE", "bob": "CAN_EDIT"}
    with httpx.Client(base_url=auth_server.url, follow_redirects=False) as anonymous:
        assert anonymous.get(target.page).headers["location"].startswith("/ui/login?next=")
    # An admin may manage every model, but a missing one is missing: no grants on what does not exist.
    with auth_server.client(auth_server.tokens["root"]) as root:
        assert root.get("/ui/models/main.support.gone/permissions").status_code == 404
        gone = root.post("/ui/models/main.support.gone/permissions", data=form, follow_redirects=False)
        assert gone.status_code == 404
    assert auth_server.auth.list_permissions("registered_model", "main.support.gone") == []


def test_the_account_page_links_to_what_the_caller_manages(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    auth_server.user("bob")
    with auth_server.client(auth_server.tokens["alice"]) as alice:
        experiment = _create(auth_server, alice, "experiment")
        model = _create(auth_server, alice, "registered_model")
        ok(alice.put(f"/api/v1/permissions/registered_model/{MODEL}/bob", json={"level": "CAN_EDIT"}))
    with _browser(auth_server, "alice") as browser:
        account = browser.get("/ui/account").text
        assert f'href="{model.page}">{MODEL}</a>' in account
        assert f'href="{experiment.page}">pages ({experiment.resource_id})</a>' in account
        assert browser.get(model.page).status_code == 200
    with _browser(auth_server, "bob") as browser:
        account = browser.get("/ui/account").text
        assert "Permissions you manage" in account and model.page not in account and experiment.page not in account
    with auth_server.client(auth_server.tokens["root"]) as root:
        assert model.page in root.get("/ui/account").text  # admins manage everything
