"""What a caller sees: only experiments, traces and models it holds a level on; OTLP writes need CAN_EDIT;
bad input gets a clear 4xx that leaks nothing and writes nothing."""

from __future__ import annotations

import json

from .conftest import AuthServer
from .worlds import make_world, otlp_body, package_b64


def test_lists_search_and_metrics_show_only_readable_experiments(auth_server: AuthServer) -> None:
    package = package_b64()
    with auth_server.client(auth_server.tokens["root"]) as root:
        hidden = make_world(root, package, prefix="hidden")
        shared = make_world(root, package, prefix="shared")
    auth_server.user("alice")
    auth_server.grant("alice", shared.experiment_id, "CAN_READ")
    with auth_server.client(auth_server.tokens["alice"]) as alice:
        names = [item["name"] for item in alice.get("/api/v1/experiments").json()["experiments"]]
        assert names == [f"shared-{shared.n}"]
        stats = alice.get("/api/v1/experiment-stats").json()["experiments"]
        assert [item["experiment_id"] for item in stats] == [shared.experiment_id]
        found = alice.post("/api/v1/traces/search", json={}).json()["traces"]
        assert [trace["info"]["trace_id"] for trace in found] == [shared.trace_id]
        asked = alice.post("/api/v1/traces/search", json={"experiment_ids": [hidden.experiment_id]}).json()
        assert asked["traces"] == []
        both = alice.post("/api/v1/traces/batch-get", json={"trace_ids": [hidden.trace_id, shared.trace_id]}).json()[
            "traces"
        ]
        assert [trace["info"]["trace_id"] for trace in both] == [shared.trace_id]
        by_trace = alice.post("/api/v1/assessments/by-trace", json={"trace_ids": [hidden.trace_id, shared.trace_id]})
        assert set(by_trace.json()["assessments"]) == {shared.trace_id}
        window = {"start_time_ms": 0, "end_time_ms": 2 * 10**12, "bucket_seconds": 86400 * 30}
        metrics = alice.post("/api/v1/metrics", json=window).json()
        assert sum(point.get("request_count") or 0 for series in metrics["series"] for point in series["points"]) == 1
        assert alice.get("/api/v1/registered-models").json()["registered_models"] == []
        # A hidden experiment, trace or model answers exactly as a missing one does.
        pairs = {
            f"/api/v1/experiments/{hidden.experiment_id}": "/api/v1/experiments/999999",
            f"/api/v1/traces/{hidden.trace_id}": f"/api/v1/traces/{999999:032x}",
            f"/api/v1/registered-models/{hidden.model}": "/api/v1/registered-models/walk.models.absent",
            f"/api/v1/experiments/by-name/hidden-{hidden.n}": "/api/v1/experiments/by-name/absent",
            f"/api/v1/experiments/{hidden.experiment_id}/sessions": "/api/v1/experiments/999999/sessions",
        }
        for hidden_path, missing_path in pairs.items():
            hidden_answer, missing_answer = alice.get(hidden_path), alice.get(missing_path)
            assert hidden_answer.status_code == missing_answer.status_code == 404, hidden_path
            hidden_message = hidden_answer.json()["error"]["message"]
            missing_message = missing_answer.json()["error"]["message"]
            assert hidden_message.split("'")[0] == missing_message.split("'")[0]


def test_otlp_needs_can_edit_on_every_experiment_it_writes_to(auth_server: AuthServer) -> None:
    with auth_server.client(auth_server.tokens["root"]) as root:
        experiment_id = root.post("/api/v1/experiments", json={"name": "prod"}).json()["experiment"]["experiment_id"]
    auth_server.user("reader")
    auth_server.grant("reader", experiment_id, "CAN_READ")
    auth_server.user("writer")
    auth_server.grant("writer", experiment_id, "CAN_EDIT")
    body = otlp_body(f"{77:032x}", f"{77:016x}", client_request_id="r-77")
    by_header = {"content-type": "application/json", "x-tracelake-experiment-id": experiment_id}
    with auth_server.client(auth_server.tokens["reader"]) as reader:
        refused = reader.post("/v1/traces", content=body, headers=by_header)
        assert refused.status_code == 403
        by_name = reader.post(
            "/v1/traces",
            content=body,
            headers={"content-type": "application/json", "x-tracelake-experiment-name": "prod"},
        )
        assert by_name.status_code == 403
        # The experiment named in the spans' resource, not in a header, is checked too.
        resource = json.loads(body)
        resource["resourceSpans"][0]["resource"]["attributes"] = [
            {"key": "tracelake.experiment_id", "value": {"stringValue": experiment_id}}
        ]
        in_resource = reader.post(
            "/v1/traces", content=json.dumps(resource), headers={"content-type": "application/json"}
        )
        assert in_resource.status_code == 403
    assert auth_server.store.get_trace_infos([f"{77:032x}"]) == []
    with auth_server.client(auth_server.tokens["writer"]) as writer:
        assert writer.post("/v1/traces", content=body, headers=by_header).status_code == 200
        # Sending to a new experiment creates it, and its creator manages it.
        new = writer.post(
            "/v1/traces",
            content=otlp_body(f"{78:032x}", f"{78:016x}", client_request_id="r-78"),
            headers={"content-type": "application/json", "x-tracelake-experiment-name": "writer-own"},
        )
        assert new.status_code == 200
        own = auth_server.store.get_experiment_by_name("writer-own")
        assert own is not None
        assert writer.get(f"/api/v1/permissions/experiment/{own.experiment_id}").status_code == 200
    assert [info.trace_id for info in auth_server.store.get_trace_infos([f"{77:032x}"])] == [f"{77:032x}"]


def test_bad_input_gets_a_clear_4xx_and_writes_nothing(auth_server: AuthServer) -> None:
    with auth_server.client(auth_server.user("alice")) as alice:
        experiment_id = alice.post("/api/v1/experiments", json={"name": "mine"}).json()["experiment"]["experiment_id"]
        for location in ("../../etc", "/etc/passwd", "file:///etc", "s3://other-bucket/x"):
            traversal = alice.post("/api/v1/experiments", json={"name": "escape", "artifact_location": location})
            assert traversal.status_code == 400, (location, traversal.text)
            moved = alice.patch(f"/api/v1/experiments/{experiment_id}", json={"artifact_location": location})
            assert moved.status_code == 400
        assert auth_server.store.get_experiment_by_name("escape") is None
        injection = alice.post(
            "/api/v1/traces/search", json={"filter": "status = 'OK'; DROP TABLE traces; --", "experiment_ids": []}
        )
        assert injection.status_code == 400 and injection.json()["error"]["code"] == "INVALID_ARGUMENT"
        quoted = alice.post("/api/v1/traces/search", json={"filter": "name = '' OR 1=1 --'"})
        assert quoted.status_code in (200, 400)
        assert quoted.status_code == 400 or quoted.json()["traces"] == []
        assert alice.get("/api/v1/traces/not a trace id!").status_code in (400, 404)
        assert alice.get("/api/v1/experiments/1%27%20OR%201=1").status_code in (400, 404)
        grant = alice.put(f"/api/v1/permissions/experiment/{experiment_id}/alice", json={"level": "CAN_EVERYTHING"})
        assert grant.status_code == 400 and "CAN_READ" in grant.json()["error"]["message"]
        other = alice.put("/api/v1/permissions/workspace/1/alice", json={"level": "CAN_READ"})
        assert other.status_code == 400
    with auth_server.client(auth_server.tokens["root"]) as root:
        assert root.get("/api/v1/experiments/by-name/escape").status_code == 404
        assert root.get("/api/v1/experiments").json()["experiments"][0]["name"] == "mine"


def test_what_a_caller_creates_is_its_own_by_the_time_the_answer_arrives(auth_server: AuthServer) -> None:
    # The grant is written before the response completes, so acting on the answer at once works
    # (a deploy reads the model version its log_agent just created).
    package = package_b64()
    auth_server.user("alice")
    with auth_server.client(auth_server.tokens["alice"]) as alice:
        for n in range(20):
            name = f"main.mine.model{n}"
            created = alice.post(f"/api/v1/registered-models/{name}/versions", json={"package": package})
            assert created.status_code == 201, created.text
            assert alice.get(f"/api/v1/registered-models/{name}/versions/1").status_code == 200
            traced = alice.post(
                "/v1/traces",
                content=otlp_body(f"{n + 1:032x}", f"{n + 1:016x}", client_request_id=f"r{n}"),
                headers={"content-type": "application/json", "x-tracelake-experiment-name": f"mine-{n}"},
            )
            assert traced.status_code == 200, traced.text
            experiment = alice.get(f"/api/v1/experiments/by-name/mine-{n}")
            assert experiment.status_code == 200, experiment.text
