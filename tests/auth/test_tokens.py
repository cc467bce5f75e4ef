"""Personal access tokens and service principals: shown once, stored hashed, expiry, revocation,
the client-credentials endpoint and its rate limit, and secrets sent where they do not belong."""

from __future__ import annotations

import sqlalchemy as sa

from tracelake.store.sql.schema import auth_principals, auth_tokens

from .conftest import PASSWORD, AuthServer


def test_a_token_is_shown_once_stored_hashed_and_revocable(auth_server: AuthServer) -> None:
    with auth_server.client(auth_server.user("alice")) as alice:
        created = alice.post("/api/v1/tokens", json={"name": "laptop", "expires_in_days": 30})
        assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
        token = created.json()["token"]
        token_id = created.json()["token_info"]["token_id"]
        listed = alice.get("/api/v1/tokens").json()["tokens"]
        assert token not in str(listed) and {"laptop", "test"} == {item["name"] for item in listed}
    with auth_server.store.engine.connect() as connection:
        stored = connection.execute(sa.select(auth_tokens.c.token_hash, auth_tokens.c.token_prefix)).all()
    assert all(token not in row.token_hash and len(row.token_hash) == 64 for row in stored)
    with auth_server.client(token) as laptop:
        assert laptop.get("/api/v1/me").json()["principal"]["name"] == "alice"
        with auth_server.client(auth_server.user("mallory")) as mallory:
            assert mallory.delete(f"/api/v1/tokens/{token_id}").status_code == 404  # not hers
        assert laptop.delete(f"/api/v1/tokens/{token_id}").status_code == 204
        refused = laptop.get("/api/v1/me")
        assert refused.status_code == 401 and refused.json()["error"]["message"] == "invalid, expired or revoked token"
        assert refused.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(auth_server: AuthServer) -> None:
    token = auth_server.user("alice")
    with auth_server.store.engine.begin() as connection:
        connection.execute(sa.update(auth_tokens).values(expires_time=1))
    with auth_server.client(token) as alice:
        answer = alice.get("/api/v1/experiments")
        assert answer.status_code == 401 and "alice" not in answer.text


def test_wrong_tokens_and_schemes_get_a_clear_401(auth_server: AuthServer) -> None:
    with auth_server.client() as anonymous:
        for header in ("Bearer tlp_wrong", "Bearer " + "x" * 5000, "Basic YWxpY2U6cHc=", "Bearer", "tlp_abc"):
            answer = anonymous.get("/api/v1/experiments", headers={"Authorization": header})
            assert answer.status_code == 401, header
            assert answer.json()["error"]["code"] == "UNAUTHENTICATED"
        # Public routes ignore credentials they do not need.
        assert anonymous.get("/health", headers={"Authorization": "Bearer nope"}).status_code == 200


def test_client_credentials_give_short_lived_tokens(auth_server: AuthServer) -> None:
    with auth_server.client(auth_server.user("alice")) as alice:
        created = alice.post("/api/v1/service-principals", json={"name": "support-bot"}).json()
        client_id, secret = created["client_id"], created["client_secret"]
        experiment = alice.post("/api/v1/experiments", json={"name": "bot-exp"}).json()["experiment"]
        granted = alice.put(
            f"/api/v1/permissions/experiment/{experiment['experiment_id']}/{client_id}", json={"level": "CAN_EDIT"}
        )
        assert granted.status_code == 200, granted.text
    with auth_server.store.engine.connect() as connection:
        stored = connection.execute(sa.select(auth_principals.c.secret_hash).where(auth_principals.c.name == client_id))
        assert secret not in str(stored.all())
    with auth_server.client() as anonymous:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        answer = anonymous.post("/api/v1/oauth/token", data=form)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == auth_server.settings.access_token_ttl_s
        basic = anonymous.post(
            "/api/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert basic.status_code == 200
        # The secret itself is not a bearer token, and a token is not a secret.
        assert anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        wrong = anonymous.post("/api/v1/oauth/token", data={**form, "client_secret": body["access_token"]})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert anonymous.post("/api/v1/oauth/token", data={**form, "grant_type": "password"}).json()["error"] == (
            "unsupported_grant_type"
        )
        # A user's password is not a client secret either.
        assert (
            anonymous.post(
                "/api/v1/oauth/token", data={**form, "client_id": "alice", "client_secret": PASSWORD}
            ).status_code
            == 401
        )
    with auth_server.client(body["access_token"]) as bot:
        assert bot.get("/api/v1/me").json()["principal"]["kind"] == "service_principal"
        assert bot.get(f"/api/v1/experiments/{experiment['experiment_id']}").status_code == 200
        assert bot.post("/api/v1/tokens", json={"name": "x"}).status_code == 403
    with auth_server.store.engine.begin() as connection:
        connection.execute(sa.update(auth_tokens).where(auth_tokens.c.kind == "access").values(expires_time=1))
    with auth_server.client(body["access_token"]) as bot:
        assert bot.get("/api/v1/me").status_code == 401


def test_the_token_endpoint_is_rate_limited(auth_server: AuthServer) -> None:
    with auth_server.client() as anonymous:
        form = {"grant_type": "client_credentials", "client_id": "sp-guess", "client_secret": "tls_guess"}
        for _ in range(auth_server.settings.auth_attempts_per_minute):
            assert anonymous.post("/api/v1/oauth/token", data=form).status_code == 401
        limited = anonymous.post("/api/v1/oauth/token", data=form)
        assert limited.status_code == 429 and limited.json()["error"] == "slow_down"
        assert int(limited.headers["retry-after"]) >= 1


def test_audit_log_records_permission_changes_and_deletions(auth_server: AuthServer) -> None:
    auth_server.user("bob")
    with auth_server.client(auth_server.user("alice")) as alice:
        experiment_id = alice.post("/api/v1/experiments", json={"name": "audited"}).json()["experiment"][
            "experiment_id"
        ]
        assert alice.put(f"/api/v1/permissions/experiment/{experiment_id}/bob", json={"level": "CAN_READ"}).is_success
        assert alice.delete(f"/api/v1/permissions/experiment/{experiment_id}/bob").status_code == 204
        assert alice.delete(f"/api/v1/experiments/{experiment_id}").status_code == 204
        assert alice.get("/api/v1/audit-log").status_code == 403
    with auth_server.client(auth_server.tokens["root"]) as root:
        events = root.get("/api/v1/audit-log").json()["events"]
    actions = [(event["actor"], event["action"], event["resource_id"]) for event in events]
    assert ("alice", "permission.grant", experiment_id) in actions
    assert ("alice", "permission.revoke", experiment_id) in actions
    assert ("alice", "experiment.delete", experiment_id) in actions
    assert next(event for event in events if event["action"] == "permission.grant")["detail"] == {
        "principal": "bob",
        "level": "CAN_READ",
    }
