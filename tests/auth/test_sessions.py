"""UI login with a session cookie: cookie flags, CSRF on changes, tampered and ended sessions, logout, rate limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .conftest import PASSWORD, AuthServer


@contextmanager
def _login(server: AuthServer, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as client:
        response = client.post(
            "/ui/login", data={"username": username, "password": password, "next": "/ui/experiments/1/traces"}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/experiments/1/traces"
        yield client


def test_login_sets_a_hardened_session_cookie_and_the_ui_uses_it(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    with httpx.Client(base_url=auth_server.url, follow_redirects=False) as browser:
        assert browser.get("/ui/experiments").headers["location"] == "/ui/login?next=%2Fui%2Fexperiments"
        page = browser.get("/ui/login")
        assert page.status_code == 200 and 'name="password"' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    with _login(auth_server, "alice") as client:
        assert client.cookies.get("tracelake_session")
        raw = httpx.post(
            auth_server.url + "/ui/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False
        ).headers.get_list("set-cookie")
        session_cookie = next(value for value in raw if value.startswith("tracelake_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie and "Path=/" in session_cookie
        assert "Secure" not in session_cookie  # plain http on loopback; https adds Secure
        csrf_cookie = next(value for value in raw if value.startswith("tracelake_csrf="))
        assert "HttpOnly" not in csrf_cookie and "SameSite=strict" in csrf_cookie
        # The session works for pages and for the API's reads.
        assert client.get("/ui/experiments").status_code == 200
        me = client.get("/api/v1/me").json()
        assert me["principal"]["name"] == "alice"


def test_changes_with_a_session_need_the_csrf_token(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    with _login(auth_server, "alice") as client:
        refused = client.post("/api/v1/experiments", json={"name": "forged"})
        assert refused.status_code == 403 and "x-csrf-token" in refused.json()["error"]["message"]
        wrong = client.post("/api/v1/experiments", json={"name": "forged"}, headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        cross = client.post(
            "/api/v1/experiments",
            json={"name": "forged"},
            headers={"X-CSRF-Token": client.cookies["tracelake_csrf"], "Origin": "https://evil.example"},
        )
        assert cross.status_code == 403 and "cross-site" in cross.json()["error"]["message"]
        fetched = client.post(
            "/api/v1/experiments",
            json={"name": "forged"},
            headers={"X-CSRF-Token": client.cookies["tracelake_csrf"], "Sec-Fetch-Site": "cross-site"},
        )
        assert fetched.status_code == 403
        assert auth_server.store.get_experiment_by_name("forged") is None  # nothing written
        made = client.post(
            "/api/v1/experiments", json={"name": "mine"}, headers={"X-CSRF-Token": client.cookies["tracelake_csrf"]}
        )
        assert made.status_code == 201, made.text


def test_tampered_or_unknown_session_ids_are_anonymous(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    with _login(auth_server, "alice") as client:
        session_id = client.cookies["tracelake_session"]
        for forged in (session_id[:-1] + ("A" if session_id[-1] != "A" else "B"), "x" * 2000, "", "' OR 1=1 --"):
            with httpx.Client(base_url=auth_server.url, follow_redirects=False) as other:
                other.cookies.set("tracelake_session", forged)
                answer = other.get("/api/v1/me")
                assert answer.status_code == 401
                assert "alice" not in answer.text
                assert other.get("/ui/account").status_code == 303


def test_logout_ends_the_session_and_needs_the_form_token(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    with _login(auth_server, "alice") as client:
        session_id = client.cookies["tracelake_session"]
        account = client.get("/ui/account")
        token = re.search(r'name="csrf_token" value="([^"]+)"', account.text)
        assert token is not None
        assert client.post("/ui/logout", data={"csrf_token": "wrong"}).status_code == 403
        assert client.get("/api/v1/me").status_code == 200
        out = client.post("/ui/logout", data={"csrf_token": token.group(1)})
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        with httpx.Client(base_url=auth_server.url) as fresh:
            fresh.cookies.set("tracelake_session", session_id)
            assert fresh.get("/api/v1/me").status_code == 401


def test_wrong_passwords_are_refused_then_rate_limited(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    with httpx.Client(base_url=auth_server.url, follow_redirects=False) as browser:
        for _ in range(auth_server.settings.auth_attempts_per_minute):
            wrong = browser.post("/ui/login", data={"username": "alice", "password": "not it at all"})
            assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
            assert "tracelake_session" not in wrong.headers.get("set-cookie", "")
        limited = browser.post("/ui/login", data={"username": "alice", "password": PASSWORD})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        unknown = browser.post("/ui/login", data={"username": "nobody", "password": "whatever"})
        assert unknown.status_code == 429  # the same client address is limited for every account


def test_the_login_page_never_redirects_off_site(auth_server: AuthServer) -> None:
    auth_server.user("alice")
    with httpx.Client(base_url=auth_server.url, follow_redirects=False) as browser:
        for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
            response = browser.post("/ui/login", data={"username": "alice", "password": PASSWORD, "next": target})
            assert response.headers["location"] == "/ui/experiments"
