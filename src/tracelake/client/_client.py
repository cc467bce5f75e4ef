"""`Client`: the typed Python face of the REST API (docs/rest-api.md), one method per route."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from tracelake.client._http import HttpSession, segment
from tracelake.client._models import (
    ArchiveStatus,
    MetricsResult,
    ScorerInfo,
    TracePage,
    UserInfo,
    experiment_from_dict,
    metrics_from_dict,
)
from tracelake.model import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Trace,
)

API = "/api/v1"


class Client:
    """Synchronous client of a tracelake server. Thread-safe; reuses connections; close it when done.

    Every error is a `tracelake.exceptions` type: `NotFoundError` (404), `ConflictError` (409),
    `QueryError` (a bad filter, with `.position`), `ServerUnavailableError` (no connection, timeout,
    502/503/504), and `ClientError` (anything else, with `.status` and `.code`).

    Args:
        base_url: the server, e.g. `http://127.0.0.1:5000` (a path prefix is kept).
        token: sent as `Authorization: Bearer <token>` (a personal access token).
        client_id: a service principal's client id; with `client_secret` (and no `token`), exchanged
            at the server's token endpoint for short-lived access tokens, renewed as needed.
        client_secret: the secret of `client_id`.
        timeout: seconds to wait for connecting, and for each read and write.
        retries: extra attempts for reads and other safe requests when the server is unreachable
            or answers 429/502/503/504 (waiting with backoff, or the server's `Retry-After`).
        transport: an httpx transport, e.g. `httpx.MockTransport` in tests.
        headers: extra headers sent with every request.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        auth = None
        if not token and client_id and client_secret:
            from tracelake.client._auth import ClientCredentialsAuth

            auth = ClientCredentialsAuth(base_url, client_id, client_secret, timeout=timeout, transport=transport)
        self._session = HttpSession(base_url, token, timeout, retries, transport, headers, auth)
        self.base_url = self._session.base_url

    def close(self) -> None:
        """Close the connections."""
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """Return the server's health answer, e.g. `{"status": "ok", "version": "0.1.0"}`."""
        return dict(self._session.request("GET", "/health"))

    # Experiments -----------------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        """Create an experiment. Raises ConflictError if the name is taken."""
        body: dict[str, Any] = {"name": name}
        if artifact_location is not None:
            body["artifact_location"] = artifact_location
        if tags:
            body["tags"] = dict(tags)
        data = self._session.request("POST", f"{API}/experiments", json=body, idempotent=False)
        return experiment_from_dict(data["experiment"])

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        """Return every experiment (deleted ones too if asked)."""
        params = {"include_deleted": "true" if include_deleted else "false"}
        data = self._session.request("GET", f"{API}/experiments", params=params)
        return [experiment_from_dict(item) for item in data["experiments"]]

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment by id. Raises NotFoundError."""
        data = self._session.request("GET", f"{API}/experiments/{segment(experiment_id)}")
        return experiment_from_dict(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name, or None."""
        data = self._session.request("GET", f"{API}/experiments/by-name/{segment(name)}", not_found_ok=True)
        return None if data is None else experiment_from_dict(data["experiment"])

    def update_experiment(
        self, experiment_id: str, *, name: str | None = None, artifact_location: str | None = None
    ) -> Experiment:
        """Rename an experiment and/or move where its new trace payloads go."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if artifact_location is not None:
            body["artifact_location"] = artifact_location
        data = self._session.request("PATCH", f"{API}/experiments/{segment(experiment_id)}", json=body)
        return experiment_from_dict(data["experiment"])

    def delete_experiment(self, experiment_id: str) -> None:
        """Delete an experiment."""
        self._session.request("DELETE", f"{API}/experiments/{segment(experiment_id)}")

    # Traces ----------------------------------------------------------------------------------------
    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = False,
    ) -> TracePage:
        """Return one page of traces matching a filter (grammar: docs/search.md), newest first by default.

        Raises:
            QueryError: the filter or order-by is invalid (`.position` says where, when known).
        """
        body: dict[str, Any] = {"max_results": max_results, "include_spans": include_spans}
        if experiment_ids is not None:
            body["experiment_ids"] = [str(e) for e in experiment_ids]
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._session.request("POST", f"{API}/traces/search", json=body)
        return TracePage([Trace.from_dict(t) for t in data["traces"]], data.get("next_page_token"))

    def iter_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_size: int = 500,
        include_spans: bool = False,
    ) -> Iterator[Trace]:
        """Yield every matching trace, fetching pages as needed."""
        token: str | None = None
        while True:
            page = self.search_traces(experiment_ids, filter_string, order_by, page_size, token, include_spans)
            yield from page.traces
            token = page.next_page_token
            if not token:
                return

    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        """Return a trace with its assessments (and spans, unless told not to). Raises NotFoundError."""
        params = {"include_spans": "true" if include_spans else "false"}
        data = self._session.request("GET", f"{API}/traces/{segment(trace_id)}", params=params)
        return Trace.from_dict(data["trace"])

    def batch_get_traces(self, trace_ids: Sequence[str], include_spans: bool = True) -> list[Trace]:
        """Return the traces with these ids; ids that do not exist are left out."""
        body = {"trace_ids": list(trace_ids), "include_spans": include_spans}
        data = self._session.request("POST", f"{API}/traces/batch-get", json=body)
        return [Trace.from_dict(t) for t in data["traces"]]

    def get_trace_by_client_request_id(self, experiment_id: str, client_request_id: str) -> Trace:
        """Return the trace (summary and assessments) its caller tagged with this id. Raises NotFoundError."""
        path = f"{API}/experiments/{segment(experiment_id)}/traces/by-client-request-id/{segment(client_request_id)}"
        return Trace.from_dict(self._session.request("GET", path)["trace"])

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set (or replace) a tag on a trace."""
        path = f"{API}/traces/{segment(trace_id)}/tags/{segment(key)}"
        self._session.request("PUT", path, json={"value": value})

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove a tag from a trace."""
        self._session.request("DELETE", f"{API}/traces/{segment(trace_id)}/tags/{segment(key)}")

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces by ids, or those older than `max_timestamp_ms` (at most `max_traces`); returns the count."""
        body: dict[str, Any] = {"experiment_id": experiment_id}
        if max_timestamp_ms is not None:
            body["max_timestamp_ms"] = max_timestamp_ms
        if max_traces is not None:
            body["max_traces"] = max_traces
        if trace_ids is not None:
            body["trace_ids"] = list(trace_ids)
        data = self._session.request("POST", f"{API}/traces/delete", json=body, idempotent=False)
        return int(data["deleted"])

    def recompute_costs(self, experiment_id: str, since_ms: int | None = None) -> dict[str, Any]:
        """Have the server reprice the experiment's stored LLM spans with its current prices.

        Returns `traces_checked`, `traces_changed`, `spans_changed` and `retry_trace_ids`.
        """
        body = {"since_ms": since_ms}
        path = f"{API}/experiments/{experiment_id}/recompute-cost"
        data: dict[str, Any] = self._session.request("POST", path, json=body, idempotent=True)
        return data

    # Assessments -----------------------------------------------------------------------------------
    def create_assessment(
        self,
        assessment: Mapping[str, Any],
        *,
        trace_id: str | None = None,
        experiment_id: str | None = None,
        client_request_id: str | None = None,
    ) -> Assessment:
        """Create a feedback or expectation from an `AssessmentInput` mapping (docs/rest-api.md).

        The trace is named by `trace_id`, or by `client_request_id` within `experiment_id`.
        """
        body = _jsonable(assessment)
        if trace_id is not None:
            path = f"{API}/traces/{segment(trace_id)}/assessments"
        elif experiment_id is not None and client_request_id is not None:
            path = f"{API}/experiments/{segment(experiment_id)}/assessments"
            body["client_request_id"] = client_request_id
        else:
            raise ValueError("create_assessment() needs trace_id, or experiment_id and client_request_id")
        data = self._session.request("POST", path, json=body, idempotent=False)
        return Assessment.from_dict(data["assessment"])

    def log_feedback(
        self,
        trace_id: str | None = None,
        name: str = "feedback",
        value: Any = None,
        *,
        rationale: str | None = None,
        source: AssessmentSource | None = None,
        span_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        error: AssessmentError | None = None,
        experiment_id: str | None = None,
        client_request_id: str | None = None,
    ) -> Assessment:
        """Attach feedback (a thumbs up, a score, a label) to a trace or one of its spans.

        The trace is named by `trace_id`, or by `client_request_id` within `experiment_id`.
        """
        body = _assessment_body(AssessmentKind.FEEDBACK, name, value, rationale, source, span_id, metadata, error)
        return self.create_assessment(
            body, trace_id=trace_id, experiment_id=experiment_id, client_request_id=client_request_id
        )

    def log_expectation(
        self,
        trace_id: str | None = None,
        name: str = "expected_response",
        value: Any = None,
        *,
        source: AssessmentSource | None = None,
        span_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        experiment_id: str | None = None,
        client_request_id: str | None = None,
    ) -> Assessment:
        """Attach an expectation (what the agent should have answered) to a trace or one of its spans."""
        body = _assessment_body(AssessmentKind.EXPECTATION, name, value, None, source, span_id, metadata, None)
        return self.create_assessment(
            body, trace_id=trace_id, experiment_id=experiment_id, client_request_id=client_request_id
        )

    def list_assessments(self, trace_id: str) -> list[Assessment]:
        """Return the feedback and expectations on a trace."""
        data = self._session.request("GET", f"{API}/traces/{segment(trace_id)}/assessments")
        return [Assessment.from_dict(a) for a in data["assessments"]]

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """Return one assessment. Raises NotFoundError."""
        path = f"{API}/traces/{segment(trace_id)}/assessments/{segment(assessment_id)}"
        return Assessment.from_dict(self._session.request("GET", path)["assessment"])

    def update_assessment(self, trace_id: str, assessment_id: str, changes: Mapping[str, Any]) -> Assessment:
        """Change any of `value`, `rationale`, `metadata`, `error`, `source` of an assessment."""
        path = f"{API}/traces/{segment(trace_id)}/assessments/{segment(assessment_id)}"
        data = self._session.request("PATCH", path, json=_jsonable(changes))
        return Assessment.from_dict(data["assessment"])

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment."""
        path = f"{API}/traces/{segment(trace_id)}/assessments/{segment(assessment_id)}"
        self._session.request("DELETE", path)

    # Metrics ---------------------------------------------------------------------------------------
    def get_metrics(
        self,
        experiment_ids: Sequence[str],
        start_time_ms: int,
        end_time_ms: int,
        *,
        bucket_seconds: int = 3600,
        metrics: Sequence[str] | None = None,
        filter_string: str | None = None,
        group_by: str | None = None,
    ) -> MetricsResult:
        """Return time-bucketed series (request count, error rate, latency percentiles, tokens, cost).

        Args:
            experiment_ids: experiments to aggregate.
            start_time_ms: start of the window (ms since the epoch).
            end_time_ms: end of the window.
            bucket_seconds: bucket width.
            metrics: names from docs/rest-api.md; default: the server's default set.
            filter_string: the search filter grammar.
            group_by: `tags.<key>`, `metadata.<key>`, `model` or `span.name`.
        """
        body: dict[str, Any] = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "start_time_ms": start_time_ms,
            "end_time_ms": end_time_ms,
            "bucket_seconds": bucket_seconds,
        }
        if metrics is not None:
            body["metrics"] = list(metrics)
        if filter_string:
            body["filter"] = filter_string
        if group_by:
            body["group_by"] = group_by
        return metrics_from_dict(self._session.request("POST", f"{API}/metrics", json=body))

    # Model registry --------------------------------------------------------------------------------
    def create_registered_model(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model named `catalog.schema.name`. Raises ConflictError if it exists."""
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if tags:
            body["tags"] = dict(tags)
        data = self._session.request("POST", f"{API}/registered-models", json=body, idempotent=False)
        return RegisteredModel.from_dict(data["registered_model"])

    def list_registered_models(self) -> list[RegisteredModel]:
        """Return every registered model, by name."""
        data = self._session.request("GET", f"{API}/registered-models")
        return [RegisteredModel.from_dict(item) for item in data["registered_models"]]

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a registered model with its aliases and latest version. Raises NotFoundError."""
        data = self._session.request("GET", f"{API}/registered-models/{segment(name)}")
        return RegisteredModel.from_dict(data["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model with its versions, aliases and packages."""
        self._session.request("DELETE", f"{API}/registered-models/{segment(name)}")

    def create_model_version(
        self,
        name: str,
        package: bytes,
        source: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Upload an agent package (built by `tracelake.agents.packaging`) as the model's next version."""
        body: dict[str, Any] = {"package": base64.b64encode(package).decode("ascii")}
        if source is not None:
            body["source"] = source
        if description is not None:
            body["description"] = description
        if tags:
            body["tags"] = dict(tags)
        path = f"{API}/registered-models/{segment(name)}/versions"
        data = self._session.request("POST", path, json=body, idempotent=False)
        return ModelVersion.from_dict(data["model_version"])

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Return a model's versions, newest first. Raises NotFoundError."""
        data = self._session.request("GET", f"{API}/registered-models/{segment(name)}/versions")
        return [ModelVersion.from_dict(item) for item in data["model_versions"]]

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Return one version of a model. Raises NotFoundError."""
        path = f"{API}/registered-models/{segment(name)}/versions/{segment(str(version))}"
        return ModelVersion.from_dict(self._session.request("GET", path)["model_version"])

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at (`latest`: the newest). Raises NotFoundError."""
        path = f"{API}/registered-models/{segment(name)}/aliases/{segment(alias)}"
        return ModelVersion.from_dict(self._session.request("GET", path)["model_version"])

    def set_model_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point an alias at a version; return that version."""
        path = f"{API}/registered-models/{segment(name)}/aliases/{segment(alias)}"
        data = self._session.request("PUT", path, json={"version": int(version)})
        return ModelVersion.from_dict(data["model_version"])

    def delete_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        self._session.request("DELETE", f"{API}/registered-models/{segment(name)}/aliases/{segment(alias)}")

    def get_model_version_package(self, name: str, version: int | str) -> bytes:
        """Download a version's package archive (`.tar.gz`). Raises NotFoundError."""
        path = f"{API}/registered-models/{segment(name)}/versions/{segment(str(version))}/package"
        return self._session.request_bytes("GET", path)

    # Auth (servers started with --auth; see docs/auth.md) ------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """Return `{"auth_enabled": bool, "principal": {...} | None}`: who the server thinks the caller is."""
        return dict(self._session.request("GET", f"{API}/me"))

    def list_permissions(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
        """Return the grants on an `experiment` (by id) or a `registered_model` (by name); CAN_MANAGE needed."""
        path = f"{API}/permissions/{segment(resource_type)}/{segment(resource_id)}"
        return list(self._session.request("GET", path)["permissions"])

    def grant_permission(self, resource_type: str, resource_id: str, principal: str, level: str) -> dict[str, Any]:
        """Give a user or service principal CAN_READ, CAN_EDIT or CAN_MANAGE on a resource."""
        path = f"{API}/permissions/{segment(resource_type)}/{segment(resource_id)}/{segment(principal)}"
        return dict(self._session.request("PUT", path, json={"level": level})["permission"])

    def revoke_permission(self, resource_type: str, resource_id: str, principal: str) -> None:
        """Take a principal's level on a resource away."""
        path = f"{API}/permissions/{segment(resource_type)}/{segment(resource_id)}/{segment(principal)}"
        self._session.request("DELETE", path)

    def create_service_principal(self, name: str) -> dict[str, Any]:
        """Create a service principal; return `client_id`, `client_secret` (shown once) and `service_principal`."""
        return dict(self._session.request("POST", f"{API}/service-principals", json={"name": name}, idempotent=False))

    def delete_service_principal(self, client_id: str) -> None:
        """Delete a service principal (its tokens stop working)."""
        self._session.request("DELETE", f"{API}/service-principals/{segment(client_id)}")

    def list_users(self) -> list[UserInfo]:
        """Return every user (admins only)."""
        return [UserInfo.from_dict(item) for item in self._session.request("GET", f"{API}/users")["users"]]

    def update_user(
        self, username: str, *, active: bool | None = None, is_admin: bool | None = None, password: str | None = None
    ) -> UserInfo:
        """Enable or disable a user, give or take admin rights, or set its password (admins only).

        A disabled user's sessions and tokens stop working at once. Raises ConflictError for a
        change that would leave no enabled admin.
        """
        body: dict[str, Any] = {}
        if active is not None:
            body["active"] = active
        if is_admin is not None:
            body["is_admin"] = is_admin
        if password is not None:
            body["password"] = password
        data = self._session.request("PATCH", f"{API}/users/{segment(username)}", json=body)
        return UserInfo.from_dict(data["user"])

    # Monitoring settings (docs/archive.md, docs/scorers.md) ----------------------------------------
    def get_archive(self, experiment_id: str) -> ArchiveStatus | None:
        """Return an experiment's archive settings and sync status, or None if archiving was never set up."""
        data = self._session.request("GET", f"{API}/experiments/{segment(experiment_id)}/archive")
        return None if data["archive"] is None else ArchiveStatus.from_dict(data["archive"])

    def set_archive(
        self, experiment_id: str, location: str, interval_seconds: int = 900, *, enabled: bool = True
    ) -> ArchiveStatus:
        """Archive an experiment's traces to Delta tables at `location` every `interval_seconds` (CAN_MANAGE).

        The server refuses (400) a location outside its allowed artifact roots, one it cannot write,
        or one that overlaps other data it keeps.
        """
        body = {"location": location, "interval_seconds": interval_seconds, "enabled": enabled}
        data = self._session.request("PUT", f"{API}/experiments/{segment(experiment_id)}/archive", json=body)
        return ArchiveStatus.from_dict(data["archive"])

    def disable_archive(self, experiment_id: str) -> None:
        """Stop archiving an experiment (its tables and settings stay). Raises NotFoundError if never set up."""
        self._session.request("DELETE", f"{API}/experiments/{segment(experiment_id)}/archive")

    def list_archives(self) -> list[ArchiveStatus]:
        """Return the archive status of every archived experiment the caller can read."""
        return [ArchiveStatus.from_dict(item) for item in self._session.request("GET", f"{API}/archives")["archives"]]

    def list_scorers(self, experiment_id: str | None = None) -> list[ScorerInfo]:
        """Return the scorers of one experiment (or of every experiment the caller can read)."""
        path = f"{API}/scorers" if experiment_id is None else f"{API}/experiments/{segment(experiment_id)}/scorers"
        return [ScorerInfo.from_dict(item) for item in self._session.request("GET", path)["scorers"]]

    def get_scorer(self, experiment_id: str, name: str) -> ScorerInfo:
        """Return one scorer of an experiment. Raises NotFoundError."""
        path = f"{API}/experiments/{segment(experiment_id)}/scorers/{segment(name)}"
        return ScorerInfo.from_dict(self._session.request("GET", path)["scorer"])

    def register_judge(
        self,
        experiment_id: str,
        judge: str,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        *,
        sample_rate: float = 1.0,
        filter_string: str | None = None,
        max_calls_per_hour: int | None = None,
        max_cost_per_hour: float | None = None,
    ) -> ScorerInfo:
        """Register a built-in LLM judge (e.g. `"Guidelines"`, `parameters={"guidelines": [...]}`) as a scorer.

        Registering again under the same name updates the registration. Code scorers are registered
        from Python with access to the database, not over the REST API.
        """
        body: dict[str, Any] = {"judge": judge, "parameters": dict(parameters or {}), "sample_rate": sample_rate}
        if name is not None:
            body["name"] = name
        if filter_string:
            body["filter"] = filter_string
        if max_calls_per_hour is not None:
            body["max_calls_per_hour"] = max_calls_per_hour
        if max_cost_per_hour is not None:
            body["max_cost_per_hour"] = max_cost_per_hour
        path = f"{API}/experiments/{segment(experiment_id)}/scorers"
        return ScorerInfo.from_dict(self._session.request("POST", path, json=body, idempotent=False)["scorer"])

    def update_scorer(
        self,
        experiment_id: str,
        name: str,
        *,
        state: str | None = None,
        sample_rate: float | None = None,
        filter_string: str | None = None,
        max_calls_per_hour: int | None = None,
        max_cost_per_hour: float | None = None,
        remove_budget: bool = False,
    ) -> ScorerInfo:
        """Start (`state="active"`) or stop (`"stopped"`) a scorer, or change its sample rate, filter or budget.

        Arguments left None stay as they are; `filter_string=""` removes the filter and
        `remove_budget=True` both hourly limits.
        """
        body: dict[str, Any] = {}
        if state is not None:
            body["state"] = state
        if sample_rate is not None:
            body["sample_rate"] = sample_rate
        if filter_string is not None:
            body["filter"] = filter_string
        if remove_budget:
            body["max_calls_per_hour"] = body["max_cost_per_hour"] = None
        if max_calls_per_hour is not None:
            body["max_calls_per_hour"] = max_calls_per_hour
        if max_cost_per_hour is not None:
            body["max_cost_per_hour"] = max_cost_per_hour
        path = f"{API}/experiments/{segment(experiment_id)}/scorers/{segment(name)}"
        return ScorerInfo.from_dict(self._session.request("PATCH", path, json=body)["scorer"])

    def delete_scorer(self, experiment_id: str, name: str) -> None:
        """Delete a scorer's registration (the assessments it wrote stay)."""
        self._session.request("DELETE", f"{API}/experiments/{segment(experiment_id)}/scorers/{segment(name)}")


def _assessment_body(
    kind: AssessmentKind,
    name: str,
    value: Any,
    rationale: str | None,
    source: AssessmentSource | None,
    span_id: str | None,
    metadata: Mapping[str, str] | None,
    error: AssessmentError | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "kind": kind.value, "value": value}
    if rationale is not None:
        body["rationale"] = rationale
    if source is not None:
        body["source"] = source
    if span_id is not None:
        body["span_id"] = span_id
    if metadata:
        body["metadata"] = dict(metadata)
    if error is not None:
        body["error"] = error
    return body


def _jsonable(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an assessment mapping, turning model objects (source, error, kind) into their JSON form."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, (AssessmentSource, AssessmentError)):
            out[key] = value.to_dict()
        elif isinstance(value, AssessmentKind):
            out[key] = value.value
        else:
            out[key] = value
    return out
