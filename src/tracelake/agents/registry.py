"""Logging agents as versions of a registered model, and finding and loading them again.

```python
version = tracelake.agents.log_agent("main.support.agent", code="agent.py", requirements=["openai>=1"],
                                     config={"temperature": 0.2}, input_example={"input": "hi"})
tracelake.agents.set_alias("main.support.agent", "champion", version.version)
agent = tracelake.agents.load_agent("models:/main.support.agent@champion")
```

Every function goes through the configured backend (`tracelake._setup.get_backend()`): the embedded
store in this process, or a tracelake server's REST API when `TRACELAKE_TRACKING_URI` is http(s).
Validation always runs here, on the machine that logs: a server never runs agents' code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelake import _config, _setup
from tracelake.agents.packaging import CODE_DIR, MANIFEST_FILE, PackageManifest, build_package, extract_package
from tracelake.agents.validation import DEFAULT_TIMEOUT_S, validate_package_dir
from tracelake.exceptions import ConfigError
from tracelake.model import (
    ModelVersion,
    RegisteredModel,
    check_alias,
    check_model_name,
    check_version,
    parse_model_uri,
)

if TYPE_CHECKING:
    from tracelake.agents._agent import ResponsesAgent

__all__ = [
    "LocalModel",
    "delete_alias",
    "delete_registered_model",
    "download_agent",
    "get_model_version",
    "get_registered_model",
    "list_model_versions",
    "list_registered_models",
    "load_agent",
    "log_agent",
    "resolve_model",
    "set_alias",
]

#: Folder under TRACELAKE_HOME where downloaded packages are extracted (one folder per package).
CACHE_FOLDER = "model-cache"


def _name(name: str) -> str:
    try:
        return check_model_name(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _version(version: int | str) -> int:
    try:
        return check_version(version)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def log_agent(
    name: str,
    code: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "agent.py",
    requirements: Sequence[str] | str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    input_example: Mapping[str, Any] | None = None,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    validation_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ModelVersion:
    """Package an agent and register it as the next version of a registered model.

    The package holds the code, the requirements (with `tracelake==<installed version>` added
    unless tracelake is listed, so production traces the way development did), the config and the
    input example. Before anything is stored, the agent is loaded from the package in a fresh
    Python process and, if an input example is given, answers it with `predict`: a version that
    cannot load or answer is refused and nothing is registered.

    Args:
        name: the registered model, `catalog.schema.name`; created with the first version.
        code: the agent's `.py` file, or a list: that file first, then other files and folders it imports.
        requirements: pip requirements, or the path of a requirements file.
        config: the agent's config (JSON object), its `self.config` when loaded.
        input_example: a Responses request (e.g. `{"input": [{"role": "user", "content": "hi"}]}`).
        description: free text stored with the version.
        tags: string keys and values stored with the version.
        validation_timeout_s: the longest the validation process may take.

    Returns:
        The new version (`.version` is its number, `.uri` its `models:/name/N`).

    Raises:
        ConfigError: the name or an argument is invalid.
        AgentPackageError: a code file is missing or the package is too large.
        AgentValidationError: the agent failed to load or to answer in the fresh process (the
            message carries that process's error output).
        StoreError: the registry could not store the version.
    """
    _name(name)
    package, _ = build_package(code, requirements, config, input_example)
    with tempfile.TemporaryDirectory(prefix="tracelake-validate-") as folder:
        extract_package(package, Path(folder))
        validate_package_dir(Path(folder), validation_timeout_s)
    entry = code if isinstance(code, str | os.PathLike) else next(iter(code))
    source = str(Path(entry).expanduser().resolve())
    backend = _setup.get_backend()
    return backend.create_model_version(name, package, source, description, dict(tags) if tags else None)


def list_registered_models() -> list[RegisteredModel]:
    """Return every registered model, by name (with aliases and latest version)."""
    return _setup.get_backend().list_registered_models()


def get_registered_model(name: str) -> RegisteredModel:
    """Return a registered model. Raises `NotFoundError` if there is none."""
    return _setup.get_backend().get_registered_model(_name(name))


def delete_registered_model(name: str) -> None:
    """Delete a registered model with all its versions, aliases and packages."""
    _setup.get_backend().delete_registered_model(_name(name))


def list_model_versions(name: str) -> list[ModelVersion]:
    """Return a model's versions, newest first. Raises `NotFoundError` if the model is missing."""
    return _setup.get_backend().list_model_versions(_name(name))


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """Return one version. Raises `NotFoundError` naming what is missing."""
    return _setup.get_backend().get_model_version(_name(name), _version(version))


def resolve_model(uri: str) -> ModelVersion:
    """Return the version `uri` names: `models:/name/3`, `name/3`, `name@champion` or `name@latest`.

    Raises:
        ConfigError: the URI is malformed.
        NotFoundError: the model, version or alias does not exist (the message says which).
    """
    try:
        ref = parse_model_uri(uri)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return _setup.get_backend().resolve_model_version(ref)


def set_alias(name: str, alias: str, version: int | str) -> ModelVersion:
    """Point `alias` (e.g. `champion`) at a version, moving it from any other; return that version.

    Raises:
        ConfigError: the alias is invalid (`latest` is reserved).
        NotFoundError: the model or version does not exist.
    """
    try:
        check_alias(alias)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return _setup.get_backend().set_model_alias(_name(name), alias, _version(version))


def delete_alias(name: str, alias: str) -> None:
    """Remove an alias (the version stays). Raises `NotFoundError` if there is no such alias."""
    _setup.get_backend().delete_model_alias(_name(name), alias)


@dataclass(frozen=True)
class LocalModel:
    """A registered version's package, extracted on this machine.

    Attributes:
        version: the registry's record of the version.
        folder: where the package is extracted (`agent.json`, `requirements.txt`, `code/`).
        manifest: the package's manifest (entry file, config, input example, requirements).
    """

    version: ModelVersion
    folder: Path
    manifest: PackageManifest

    @property
    def agent_file(self) -> Path:
        """The agent's code file."""
        return self.folder / self.manifest.entry

    @property
    def config(self) -> dict[str, Any]:
        """The config the agent was logged with."""
        return dict(self.manifest.config)

    def load(self, config: Mapping[str, Any] | None = None) -> ResponsesAgent:
        """Load the agent into this process (its `code/` folder goes first on `sys.path`).

        Args:
            config: replaces the config the agent was logged with.

        Raises:
            AgentLoadError: the agent's code failed to load.
        """
        from tracelake.agents.loading import load_agent_from_file

        code = str(self.folder / CODE_DIR)
        if code not in sys.path:
            sys.path.insert(0, code)
        return load_agent_from_file(self.agent_file, self.config if config is None else config)


def download_agent(uri: str, home: str | None = None) -> LocalModel:
    """Fetch the package of the version `uri` names and extract it (cached by content under TRACELAKE_HOME).

    Args:
        uri: `models:/name/3`, `name@champion`, ….
        home: the folder whose `model-cache/` holds extracted packages (default: TRACELAKE_HOME).

    Raises:
        ConfigError: the URI is malformed.
        NotFoundError: the model, version or alias does not exist.
        AgentPackageError: the stored package is invalid.
    """
    version = resolve_model(uri)
    package = _setup.get_backend().get_model_version_package(version.name, version.version)
    digest = hashlib.sha256(package).hexdigest()[:16]
    root = Path(_config.HOME.resolve(home, _config.environ())).expanduser().resolve() / CACHE_FOLDER
    folder = root / f"{version.name}-v{version.version}-{digest}"
    if not (folder / MANIFEST_FILE).is_file():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
        try:
            extract_package(package, staging)
            try:
                staging.rename(folder)
            except OSError:
                if not (folder / MANIFEST_FILE).is_file():  # not a concurrent extraction that won
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    manifest = PackageManifest.from_dict(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    return LocalModel(version, folder, manifest)


def load_agent(uri: str, config: Mapping[str, Any] | None = None, home: str | None = None) -> ResponsesAgent:
    """Load a registered agent into this process: `models:/name/3`, `name/3`, `name@champion`.

    Args:
        uri: the version to load.
        config: replaces the config the agent was logged with.
        home: the folder whose `model-cache/` holds extracted packages (default: TRACELAKE_HOME).

    Returns:
        The agent, ready for `predict` / `predict_stream`.

    Raises:
        ConfigError: the URI is malformed.
        NotFoundError: the model, version or alias does not exist.
        AgentLoadError: the agent's code failed to load.
    """
    return download_agent(uri, home).load(config)
