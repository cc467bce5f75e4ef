"""Generic OpenTelemetry attributes that carry trace context: identity and the resource.

Identity is read from every span after the GenAI-specific conventions, so it only fills what they
left empty. Resource attributes describe the process, not the span, so they are read once per trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tracelake.ingest.conventions._base import Extraction, as_str

NAME: Final = "otel"

SESSION: Final = "session.id"
USER: Final = "user.id"
END_USER: Final = "enduser.id"
SERVICE_NAME: Final = "service.name"
ENVIRONMENT: Final = ("deployment.environment.name", "deployment.environment")
#: OpenTelemetry SDKs fill `service.name` with this prefix when the app set none: not worth keeping.
DEFAULT_SERVICE_PREFIX: Final = "unknown_service"


def extract(attributes: Mapping[str, Any], out: Extraction) -> None:
    """Fill the session and user from `session.id`, `user.id` or `enduser.id`."""
    get = attributes.get
    if out.session_id is None and (value := get(SESSION)) is not None:
        out.session_id = as_str(value)
    if out.user_id is None:
        out.user_id = as_str(get(USER)) or as_str(get(END_USER))


def resource_fields(resource: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Return the (environment, service name) a resource describes."""
    if not resource:
        return None, None
    environment = as_str(resource.get(ENVIRONMENT[0])) or as_str(resource.get(ENVIRONMENT[1]))
    service = as_str(resource.get(SERVICE_NAME))
    if service is not None and service.startswith(DEFAULT_SERVICE_PREFIX):
        service = None
    return environment, service
