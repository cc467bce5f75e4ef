"""Loading an agent from its code file: what `tracelake serve --agent-file` and the registry run."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from tracelake.agents._agent import LOADING_AGENTS, LOADING_CONFIG, ResponsesAgent
from tracelake.exceptions import TracelakeError

__all__ = ["AgentLoadError", "load_agent_from_file"]


class AgentLoadError(TracelakeError):
    """An agent's code file could not be loaded: missing, raising on import, or naming no single agent."""


def load_agent_from_file(path: Path, config: Mapping[str, Any] | None = None) -> ResponsesAgent:
    """Import an agent's code file as a fresh module and return the agent it defines.

    The contract of an agent code file:

    1. The file is run once as a new module (named `tracelake_agent_<hash of the path>`, registered
       in `sys.modules`). Its folder is put at the front of `sys.path` (and left there), so it can
       import modules packaged next to it.
    2. The agent is, in this order:
       - the instance the file passes to `tracelake.agents.set_agent(...)` (the last one if it
         calls it several times), else
       - the one `ResponsesAgent` subclass the file itself defines (classes it imports don't
         count), instantiated with no arguments. Zero or several candidates is an error.
    3. `config` (a JSON-like mapping, e.g. `log_agent(config=...)` or `serve --config`) is
       copied into a dict and is the agent's `self.config`, already set while its `__init__` runs
       (also for agents created by the file itself and passed to `set_agent`). Without `config`,
       `self.config` is `{}`.

    Loading runs the file's top-level code: it executes arbitrary code, so load only files you trust.

    Args:
        path: the agent's `.py` file.
        config: the agent's configuration.

    Returns:
        The agent, ready for `predict` / `predict_stream`.

    Raises:
        AgentLoadError: the file is missing or not Python, raised while being imported, or does
            not name exactly one agent; the message says which and why (the original exception
            is chained).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise AgentLoadError(f"agent file {str(path)!r} does not exist")
    if path.suffix != ".py":
        raise AgentLoadError(f"agent file {str(path)!r} is not a Python file (.py)")
    agents: list[ResponsesAgent] = []
    config_token = LOADING_CONFIG.set(dict(config or {}))
    agents_token = LOADING_AGENTS.set(agents)
    try:
        module = _import(path)
        if agents:
            return agents[-1]
        agent_class = _single_agent_class(module, path)
        try:
            return agent_class()
        except Exception as exc:
            raise AgentLoadError(
                f"agent file {str(path)!r}: {agent_class.__name__}() raised {type(exc).__name__}: {exc}"
            ) from exc
    finally:
        LOADING_AGENTS.reset(agents_token)
        LOADING_CONFIG.reset(config_token)


def _import(path: Path) -> ModuleType:
    name = "tracelake_agent_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AgentLoadError(f"agent file {str(path)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if not isinstance(exc, Exception):
            raise
        raise AgentLoadError(f"agent file {str(path)!r} raised {type(exc).__name__} while loading: {exc}") from exc
    return module


def _single_agent_class(module: ModuleType, path: Path) -> type[ResponsesAgent]:
    candidates = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, ResponsesAgent)
        and value is not ResponsesAgent
        and value.__module__ == module.__name__
        and not inspect.isabstract(value)
    ]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise AgentLoadError(
            f"agent file {str(path)!r} defines no ResponsesAgent subclass and calls no tracelake.agents.set_agent(...)"
        )
    names = ", ".join(sorted(c.__name__ for c in candidates))
    raise AgentLoadError(
        f"agent file {str(path)!r} defines several ResponsesAgent subclasses ({names}): "
        "call tracelake.agents.set_agent(instance) to say which one to serve"
    )
