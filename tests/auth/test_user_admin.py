"""Admins disable and enable users and give or take admin rights: over REST, on the UI's users page
(with CSRF), and with `tracelake users …`. A disabled user's sessions and tokens stop at once; the
last enabled admin stays one."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tracelake.cli import main
from tracelake.client import Client
from tracelake.exceptions import ConflictError

from .conftest import PASSWORD, AuthServer
from .worlds import csrf_of, ok, signed_in_browser


@contextmanager
def _browser(server: AuthServer, username: str) -> Iterator[httpx.Client]:
    with signed_in_browser(server, username, PASSWORD) as browser:
        yield browser


def _actions(server: AuthServer, username: str, admin: str = "root") -> list[tuple[str | None, str]]:
    with server.client(server.tokens[admin]) as root:
        events = ok(root.get("/api/v1/audit-log", params={"max_results": 1000}))["events"]
    return [(event["actor"], event["action"]) for event in reversed(events) if event["resource_id"] == username]


def _me(server: AuthServer, token: str) -> int:
    with server.client(token) as client:
        return client.get("/api/v1/me").status_code


def test_a_disabled_user_is_locked_out_at_once_and_back_when_enabled(auth_server: AuthServer) -> None:
    bob = auth_server.user("bob")
    with _browser(auth_server, "bob") as session, Client(auth_server.url, token=auth_server.tokens["root"]) as admin:
        assert session.get("/api/v1/me").json()["principal"]["name"] == "bob"
        assert _me(auth_server, bob) == 200

        disabled = admin.update_user("bob", active=False)
        assert (disabled.name, disabled.active, disabled.is_admin) == ("bob", False, False)
        assert _me(auth_server, bob) == 401  # the token, at once
        assert session.get("/api/v1/me").status_code == 401  # the session, at once
        assert session.get("/api/v1/experiments").status_code == 401
        assert session.get("/ui/experiments").headers["location"].startswith("/ui/login?next=")
        refused = httpx.post(auth_server.url + "/ui/login", data={"username": "bob", "password": PASSWORD})
        assert refused.status_code == 401 and "Wrong username or password" in refused.text
        assert [(user.name, user.active) for user in admin.list_users()] == [("bob", False), ("root", True)]

        assert admin.update_user("bob", active=True).active
        assert _me(auth_server, bob) == 200  # tokens were suspended, not revoked
        assert session.get("/api/v1/me").status_code == 401  # a session ended stays ended
        assert admin.update_user("bob", is_admin=True).is_admin
        assert not admin.update_user("bob", is_admin=False).is_admin
    assert _actions(auth_server, "bob") == [
        ("root", "user.disable"),
        ("root", "user.enable"),
        ("root", "user.admin_grant"),
        ("root", "user.admin_revoke"),
    ]


def test_the_last_enabled_admin_stays_an_admin(auth_server: AuthServer) -> None:
    auth_server.user("ada", admin=True)
    root, ada = auth_server.tokens["root"], auth_server.tokens["ada"]
    with auth_server.client(root) as client:
        for change in ({"active": False}, {"is_admin": False}):
            refused = client.patch("/api/v1/users/root", json=change)
            assert refused.status_code == 400 and "yourself" in refused.json()["error"]["message"]
        ok(client.patch("/api/v1/users/ada", json={"active": False}))
        assert _me(auth_server, ada) == 401
        ok(client.patch("/api/v1/users/ada", json={"active": True, "is_admin": False}))
        # root is the last enabled admin: nothing may take that away, not even straight on the database.
        with pytest.raises(ConflictError, match="'root' is the last enabled admin"):
            auth_server.auth.set_user_flags("root", is_admin=False)
        with pytest.raises(ConflictError, match="last enabled admin"):
            auth_server.auth.delete_principal("root")
        bad = client.patch("/api/v1/users/ada", json={"active": False, "password": "short"})
        assert bad.status_code == 400 and "at least 8 characters" in bad.json()["error"]["message"]
        assert auth_server.principal("ada").disabled is False  # a refused request changes nothing
        missing = client.patch("/api/v1/users/nobody", json={"active": False})
        assert missing.status_code == 404
        empty = client.patch("/api/v1/users/ada", json={})
        assert empty.status_code == 400 and "nothing to change" in empty.json()["error"]["message"]
    assert auth_server.principal("root").is_admin and not auth_server.principal("root").disabled


def test_two_admins_demoting_each_other_at_once_leave_one(auth_server: AuthServer) -> None:
    auth_server.user("ada", admin=True)
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def demote(name: str) -> None:
        barrier.wait()
        try:
            outcomes[name] = auth_server.auth.set_user_flags(name, is_admin=False).is_admin
        except ConflictError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=demote, args=(name,)) for name in ("root", "ada")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(type(value).__name__ for value in outcomes.values()) == ["ConflictError", "bool"]
    assert auth_server.auth.count_admins() == 1


def test_the_users_page_lets_admins_disable_and_promote_with_csrf(auth_server: AuthServer) -> None:
    bob = auth_server.user("bob")
    with _browser(auth_server, "root") as admin:
        account = admin.get("/ui/account")
        assert 'href="/ui/admin/users"' in account.text
        page = admin.get("/ui/admin/users")
        assert page.status_code == 200 and 'data-user="bob"' in page.text
        assert 'action="/ui/admin/users/root"' not in page.text  # no buttons against oneself
        token = csrf_of(page.text)

        forged = admin.post("/ui/admin/users/bob", data={"action": "disable", "csrf_token": "guess"})
        assert forged.status_code == 403 and _me(auth_server, bob) == 200
        cross = admin.post(
            "/ui/admin/users/bob",
            data={"action": "disable", "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403 and _me(auth_server, bob) == 200

        done = admin.post("/ui/admin/users/bob", data={"action": "disable", "csrf_token": token})
        assert done.status_code == 303 and done.headers["location"] == "/ui/admin/users"
        assert _me(auth_server, bob) == 401
        assert re.search(r'data-user="bob"><td>bob</td><td class="state">disabled', admin.get("/ui/admin/users").text)
        assert admin.post("/ui/admin/users/bob", data={"action": "enable", "csrf_token": token}).status_code == 303
        assert admin.post("/ui/admin/users/bob", data={"action": "make_admin", "csrf_token": token}).status_code == 303
        assert auth_server.principal("bob").is_admin and _me(auth_server, bob) == 200

        unknown = admin.post("/ui/admin/users/bob", data={"action": "explode", "csrf_token": token})
        assert unknown.status_code == 400 and "Unknown action" in unknown.text
        itself = admin.post("/ui/admin/users/root", data={"action": "disable", "csrf_token": token})
        assert itself.status_code == 400 and "cannot disable yourself" in itself.text
        missing = admin.post("/ui/admin/users/nobody", data={"action": "disable", "csrf_token": token})
        assert missing.status_code == 404 and "no user named" in missing.text
    with _browser(auth_server, "bob") as bob_browser:  # bob is an admin now: he may demote root, not himself
        token = csrf_of(bob_browser.get("/ui/admin/users").text)
        assert (
            bob_browser.post("/ui/admin/users/root", data={"action": "remove_admin", "csrf_token": token}).status_code
            == 303
        )
        last = bob_browser.post("/ui/admin/users/bob", data={"action": "remove_admin", "csrf_token": token})
        assert last.status_code == 400  # himself; and he is the last admin now
    auth_server.user("carol")
    with _browser(auth_server, "carol") as user:
        assert user.get("/ui/admin/users").status_code == 403
        assert user.post("/ui/admin/users/bob", data={"action": "disable"}).status_code == 403
    assert auth_server.principal("bob").is_admin and not auth_server.principal("bob").disabled
    assert _actions(auth_server, "bob", admin="bob") == [
        ("root", "user.disable"),
        ("root", "user.enable"),
        ("root", "user.admin_grant"),
    ]
    assert ("bob", "user.admin_revoke") in _actions(auth_server, "root", admin="bob")


def test_tracelake_users_disable_enable_set_admin(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bob = auth_server.user("bob")
    database = ["--database", auth_server.settings.database_url]
    # Through the server, as an admin.
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("TRACELAKE_TOKEN", auth_server.tokens["root"])
    assert main(["users", "disable", "bob"]) == 0
    assert "Disabled user bob" in capsys.readouterr().out and _me(auth_server, bob) == 401
    assert main(["users", "list"]) == 0
    assert "bob disabled" in capsys.readouterr().out
    assert main(["users", "set-admin", "root", "--remove"]) == 2
    assert "yourself" in capsys.readouterr().err
    monkeypatch.setenv("TRACELAKE_TOKEN", bob)
    assert main(["users", "enable", "bob"]) == 1  # a disabled user's token does nothing
    assert "invalid, expired or revoked token" in capsys.readouterr().err

    # On the database itself (before anyone can sign in, or with the server down).
    assert main(["users", "enable", "bob", *database]) == 0
    assert _me(auth_server, bob) == 200
    assert main(["users", "set-admin", "bob", *database]) == 0
    assert "bob is now an admin" in capsys.readouterr().out
    assert main(["users", "set-admin", "root", "--remove", *database]) == 0
    assert main(["users", "disable", "bob", *database]) == 1
    assert "'bob' is the last enabled admin" in capsys.readouterr().err
    assert auth_server.principal("bob").is_admin and not auth_server.principal("bob").disabled
    assert _actions(auth_server, "bob", admin="bob") == [
        ("root", "user.disable"),
        (None, "user.enable"),
        (None, "user.admin_grant"),
    ]
