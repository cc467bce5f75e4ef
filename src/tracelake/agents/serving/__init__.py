"""The serving endpoint of an agent: `create_endpoint_app(agent, settings)`, an ASGI app (Starlette).

Needs Starlette and uvicorn (`pip install 'tracelake[agents]'`); `tracelake serve` runs it.
"""

from __future__ import annotations

from tracelake.agents.serving._app import create_endpoint_app
from tracelake.agents.serving._settings import (
    CLIENT_REQUEST_ID_HEADER,
    ENDPOINT_NAME_KEY,
    MODEL_NAME_KEY,
    MODEL_VERSION_KEY,
    TRACE_ID_HEADER,
    EndpointSettings,
)

__all__ = [
    "CLIENT_REQUEST_ID_HEADER",
    "ENDPOINT_NAME_KEY",
    "MODEL_NAME_KEY",
    "MODEL_VERSION_KEY",
    "TRACE_ID_HEADER",
    "EndpointSettings",
    "create_endpoint_app",
]
