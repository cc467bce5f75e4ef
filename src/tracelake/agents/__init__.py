"""Deployed agents: the `ResponsesAgent` interface, its request/response types, and builders of items and events.

Write an agent by subclassing `ResponsesAgent` (see docs/agents.md); serve it with `tracelake serve`
or `tracelake.agents.serving.create_endpoint_app`. Needs pydantic (`pip install 'tracelake[agents]'`).
"""

from __future__ import annotations

import importlib
from typing import Any

from tracelake.agents._agent import ResponsesAgent, set_agent
from tracelake.agents._helpers import (
    function_call_arguments_delta_event,
    function_call_item,
    function_call_output_item,
    output_item_done_event,
    text_delta_event,
    text_output_item,
)
from tracelake.agents._stream import reduce_stream, response_events
from tracelake.agents._types import (
    ChatContext,
    FunctionCall,
    FunctionCallOutput,
    InputText,
    Message,
    OutputMessage,
    OutputText,
    ResponsesRequest,
    ResponsesResponse,
    ResponsesStreamEvent,
    Usage,
)
from tracelake.agents.loading import AgentLoadError, load_agent_from_file

# Names defined in modules loaded on first use, so `import tracelake.agents` stays light.
# (`deploy` lives in `tracelake.agents.deployment`: a submodule named `deploy` would shadow the function
# as an attribute of this package once imported.)
_LAZY: dict[str, str] = {
    "EndpointSettings": "tracelake.agents.serving",
    "create_endpoint_app": "tracelake.agents.serving",
    # The registry and deploy (docs/agents.md, "Logging and versioning an agent", "Deploying").
    "AgentPackageError": "tracelake.agents.packaging",
    "AgentValidationError": "tracelake.agents.validation",
    "Endpoint": "tracelake.agents.endpoints",
    "EndpointStartError": "tracelake.agents.deployment",
    "LocalModel": "tracelake.agents.registry",
    "ModelVersion": "tracelake.model",
    "RegisteredModel": "tracelake.model",
    "delete_alias": "tracelake.agents.registry",
    "delete_registered_model": "tracelake.agents.registry",
    "deploy": "tracelake.agents.deployment",
    "download_agent": "tracelake.agents.registry",
    "get_endpoint": "tracelake.agents.endpoints",
    "get_model_version": "tracelake.agents.registry",
    "get_registered_model": "tracelake.agents.registry",
    "list_endpoints": "tracelake.agents.endpoints",
    "list_model_versions": "tracelake.agents.registry",
    "list_registered_models": "tracelake.agents.registry",
    "load_agent": "tracelake.agents.registry",
    "log_agent": "tracelake.agents.registry",
    "resolve_model": "tracelake.agents.registry",
    "set_alias": "tracelake.agents.registry",
    "stop_endpoint": "tracelake.agents.endpoints",
}

__all__ = [
    "AgentLoadError",
    "AgentPackageError",
    "AgentValidationError",
    "ChatContext",
    "Endpoint",
    "EndpointSettings",
    "EndpointStartError",
    "FunctionCall",
    "FunctionCallOutput",
    "InputText",
    "LocalModel",
    "Message",
    "ModelVersion",
    "OutputMessage",
    "OutputText",
    "RegisteredModel",
    "ResponsesAgent",
    "ResponsesRequest",
    "ResponsesResponse",
    "ResponsesStreamEvent",
    "Usage",
    "create_endpoint_app",
    "delete_alias",
    "delete_registered_model",
    "deploy",
    "download_agent",
    "function_call_arguments_delta_event",
    "function_call_item",
    "function_call_output_item",
    "get_endpoint",
    "get_model_version",
    "get_registered_model",
    "list_endpoints",
    "list_model_versions",
    "list_registered_models",
    "load_agent",
    "load_agent_from_file",
    "log_agent",
    "output_item_done_event",
    "reduce_stream",
    "resolve_model",
    "response_events",
    "set_agent",
    "set_alias",
    "stop_endpoint",
    "text_delta_event",
    "text_output_item",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracelake.agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
