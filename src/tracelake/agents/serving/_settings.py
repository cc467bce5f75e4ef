"""What one serving endpoint is: its name, the model version it serves, and where its traces go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tracelake.exceptions import ConfigError

#: Trace metadata keys the endpoint sets on every trace (besides session_id, user_id,
#: client_request_id and environment, which are tracelake's reserved keys).
ENDPOINT_NAME_KEY: Final = "endpoint_name"
MODEL_NAME_KEY: Final = "model_name"
MODEL_VERSION_KEY: Final = "model_version"

#: Response header carrying the trace id; request header carrying the caller's client request id.
TRACE_ID_HEADER: Final = "x-tracelake-trace-id"
CLIENT_REQUEST_ID_HEADER: Final = "x-tracelake-client-request-id"


@dataclass(frozen=True)
class EndpointSettings:
    """Settings of a serving endpoint (`create_endpoint_app`).

    Attributes:
        endpoint_name: the endpoint's name: the root span's name and trace metadata `endpoint_name`;
            feedback is accepted only for traces with this name.
        model_name: the registered model served (metadata `model_name`), if any.
        model_version: its version (metadata `model_version`), if any.
        experiment_name: experiment receiving the traces (created if missing); default
            `TRACELAKE_EXPERIMENT_NAME` / `_ID`, else `Default`.
        experiment_id: experiment receiving the traces, by id, instead of the name.
        tracking_uri: where traces go (a folder, a database URL or a tracelake server's URL);
            default `TRACELAKE_TRACKING_URI`, else the embedded store in `home`.
        home: folder of the embedded store; default `TRACELAKE_HOME`, else `./tracelake-data`.
        environment: metadata `environment` of every trace.
        tracing: False serves requests without recording traces.
        configure_tracing: False leaves the process's tracelake configuration as it is (the
            experiment, tracking URI and tracing settings above are then ignored), for an app
            that embeds the endpoint and configures tracelake itself.
        max_body_bytes: largest request body accepted (413 above).
        feedback_wait_s: how long feedback for a trace this endpoint just served waits for the
            trace to be stored.
        freeze_gc: once started, move every object alive (modules, the agent, the store) out of
            the garbage collector's sight (`gc.freeze()`), so that its full collections walk only
            what requests allocate. `tracelake serve` sets it, the endpoint's process being its
            own; an app that embeds the endpoint leaves it off.
        max_threads: sync `predict` / `predict_stream` calls (and other blocking work) running at
            once on worker threads; requests beyond it wait for a thread. An agent that blocks on
            a model call holds a thread for the call's whole duration, so this bounds the requests
            in flight: the default 100 (anyio's own is 40) keeps 50 concurrent callers of a 100 ms
            agent from queueing. Async agents run on the event loop and need none.
    """

    endpoint_name: str
    model_name: str | None = None
    model_version: str | None = None
    experiment_name: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None
    home: str | None = None
    environment: str = "production"
    tracing: bool = True
    configure_tracing: bool = True
    max_body_bytes: int = 16 * 1024 * 1024
    feedback_wait_s: float = 10.0
    freeze_gc: bool = False
    max_threads: int = 100

    def __post_init__(self) -> None:
        if not self.endpoint_name or not self.endpoint_name.strip():
            raise ConfigError("endpoint_name must be a non-empty string")
        if len(self.endpoint_name) > 250:
            raise ConfigError("endpoint_name is longer than 250 characters")
        if self.experiment_name is not None and self.experiment_id is not None:
            raise ConfigError("give experiment_name or experiment_id, not both")
        if self.max_body_bytes <= 0:
            raise ConfigError(f"max_body_bytes={self.max_body_bytes!r} is invalid: expected a positive number")
        if self.feedback_wait_s < 0:
            raise ConfigError(f"feedback_wait_s={self.feedback_wait_s!r} is invalid: expected 0 or more")
        if isinstance(self.max_threads, bool) or not isinstance(self.max_threads, int) or self.max_threads < 1:
            raise ConfigError(f"max_threads={self.max_threads!r} is invalid: expected a positive integer")

    @property
    def trace_metadata(self) -> dict[str, str]:
        """The metadata every trace of this endpoint carries (besides the caller's ids)."""
        metadata = {ENDPOINT_NAME_KEY: self.endpoint_name}
        if self.model_name is not None:
            metadata[MODEL_NAME_KEY] = self.model_name
        if self.model_version is not None:
            metadata[MODEL_VERSION_KEY] = str(self.model_version)
        return metadata
