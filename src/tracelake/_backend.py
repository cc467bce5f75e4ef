"""What the SDK's read and feedback functions talk to: the local store, or a server through the client.

`StoreBackend` serves the embedded mode (and direct `sqlite://` / `postgresql://` URIs);
`tracelake._remote.ClientBackend` serves `http(s)://` tracking URIs with the same contract, so
every SDK function behaves the same in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tracelake.model import Assessment, Experiment, ModelRef, ModelVersion, RegisteredModel, Trace, TraceData

if TYPE_CHECKING:
    from tracelake.store import ModelRegistryStore, TraceStore


class Backend(Protocol):
    """Read/write operations behind the SDK face. Errors are `tracelake.exceptions` types."""

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
        page_token: str | None,
        include_spans: bool,
    ) -> tuple[list[Trace], str | None]: ...

    def get_trace(self, trace_id: str) -> Trace: ...

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None,
        max_traces: int | None,
        trace_ids: Sequence[str] | None,
    ) -> int: ...

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None: ...

    def recompute_costs(self, experiment_id: str, since_ms: int | None) -> dict[str, Any]:
        """Reprice the experiment's stored LLM spans (see `tracelake.recompute_costs`)."""
        ...

    def delete_trace_tag(self, trace_id: str, key: str) -> None: ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def get_or_create_experiment(self, name: str) -> Experiment: ...

    def create_assessment(
        self,
        assessment: dict[str, Any],
        trace_id: str | None = None,
        client_request_id: str | None = None,
        experiment_id: str | None = None,
    ) -> Assessment:
        """Create a feedback/expectation from an `AssessmentInput` dict (see docs/rest-api.md).

        The trace is named by `trace_id`, or by `client_request_id` within `experiment_id`.
        """
        ...

    def update_assessment(self, trace_id: str, assessment_id: str, changes: dict[str, Any]) -> Assessment: ...

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None: ...

    def list_assessments(self, trace_id: str) -> list[Assessment]: ...

    # Model registry (tracelake.agents): errors as the store's, over REST as in process.
    def list_registered_models(self) -> list[RegisteredModel]: ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def delete_registered_model(self, name: str) -> None: ...

    def create_model_version(
        self,
        name: str,
        package: bytes,
        source: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion: ...

    def list_model_versions(self, name: str) -> list[ModelVersion]: ...

    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    def resolve_model_version(self, ref: ModelRef) -> ModelVersion:
        """Return the version a reference names: a number, an alias, or `latest`."""
        ...

    def get_model_version_package(self, name: str, version: int) -> bytes: ...

    def set_model_alias(self, name: str, alias: str, version: int) -> ModelVersion: ...

    def delete_model_alias(self, name: str, alias: str) -> None: ...

    def close(self) -> None: ...


class StoreBackend:
    """The backend of the embedded mode: the store and the query engine in this process."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
        page_token: str | None,
        include_spans: bool,
    ) -> tuple[list[Trace], str | None]:
        from tracelake.query import search_traces

        page = search_traces(
            self.store,
            list(experiment_ids) if experiment_ids is not None else None,
            filter_string=filter_string,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
        )
        spans = self.store.get_spans_of([info.trace_id for info in page.trace_infos]) if include_spans else {}
        traces = [Trace(info, TraceData(spans.get(info.trace_id, []))) for info in page.trace_infos]
        return traces, page.next_page_token

    def get_trace(self, trace_id: str) -> Trace:
        return self.store.get_trace(trace_id)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None,
        max_traces: int | None,
        trace_ids: Sequence[str] | None,
    ) -> int:
        return self.store.delete_traces(experiment_id, max_timestamp_ms, max_traces, trace_ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self.store.set_trace_tag(trace_id, key, value)

    def recompute_costs(self, experiment_id: str, since_ms: int | None) -> dict[str, Any]:
        from tracelake.ingest import reprice_span

        return self.store.recompute_costs(experiment_id, reprice_span, since_ms).to_dict()

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self.store.delete_trace_tag(trace_id, key)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        return self.store.get_or_create_experiment(name)

    def create_assessment(
        self,
        assessment: dict[str, Any],
        trace_id: str | None = None,
        client_request_id: str | None = None,
        experiment_id: str | None = None,
    ) -> Assessment:
        from tracelake.store.assessments import create_assessment

        return create_assessment(self.store, assessment, trace_id, client_request_id, experiment_id)

    def update_assessment(self, trace_id: str, assessment_id: str, changes: dict[str, Any]) -> Assessment:
        from tracelake.store.assessments import update_assessment

        return update_assessment(self.store, trace_id, assessment_id, changes)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self.store.delete_assessment(trace_id, assessment_id)

    def list_assessments(self, trace_id: str) -> list[Assessment]:
        return self.store.list_assessments(trace_id)

    # Model registry --------------------------------------------------------------------------------
    @property
    def registry(self) -> ModelRegistryStore:
        """The store as a model registry (every SQL store is one)."""
        from tracelake.exceptions import ConfigError
        from tracelake.store import ModelRegistryStore

        if not isinstance(self.store, ModelRegistryStore):
            raise ConfigError(f"the store {type(self.store).__name__} has no model registry")
        return self.store

    def list_registered_models(self) -> list[RegisteredModel]:
        return self.registry.list_registered_models()

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        self.registry.delete_registered_model(name)

    def create_model_version(
        self,
        name: str,
        package: bytes,
        source: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        return self.registry.create_model_version(name, package, source, description, tags)

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        return self.registry.list_model_versions(name)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self.registry.get_model_version(name, version)

    def resolve_model_version(self, ref: ModelRef) -> ModelVersion:
        return self.registry.resolve_model_version(ref)

    def get_model_version_package(self, name: str, version: int) -> bytes:
        return self.registry.get_model_version_package(name, version)

    def set_model_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        return self.registry.set_model_alias(name, alias, version)

    def delete_model_alias(self, name: str, alias: str) -> None:
        self.registry.delete_model_alias(name, alias)

    def close(self) -> None:
        self.store.close()
