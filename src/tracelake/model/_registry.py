"""The model registry's data: registered models (`catalog.schema.name`), their versions and aliases.

Also the grammar of the names and of the URIs that address a version: `models:/name/3`,
`models:/name@champion`, `name/3`, `name@champion` (`@latest` is the newest version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

#: The longest registered model name (the `name` column is 256 characters).
MODEL_NAME_MAX: Final = 256
#: The longest alias.
ALIAS_MAX: Final = 128
#: `name@latest` names the newest version; no alias may take this name.
LATEST_ALIAS: Final = "latest"
#: Versions whose package was validated and stored; the only status a stored version has today.
READY: Final = "READY"

MODELS_SCHEME: Final = "models:/"

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_-]*"
_MODEL_NAME = re.compile(rf"{_IDENTIFIER}\.{_IDENTIFIER}\.{_IDENTIFIER}")
_ALIAS = re.compile(_IDENTIFIER)


def check_model_name(name: object) -> str:
    """Return `name` if it is a valid registered model name, else raise `ValueError` saying why.

    A name is three dot-separated identifiers, `catalog.schema.name`; each starts with a letter or
    `_` and holds letters, digits, `_` and `-`.
    """
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise ValueError(
            f"invalid registered model name {name!r}: expected three dot-separated identifiers,"
            " catalog.schema.name (letters, digits, '_' and '-', each starting with a letter or '_'),"
            " e.g. 'main.support.agent'"
        )
    if len(name) > MODEL_NAME_MAX:
        raise ValueError(f"invalid registered model name {name[:40]!r}…: at most {MODEL_NAME_MAX} characters")
    return name


def check_alias(alias: object) -> str:
    """Return `alias` if it can name a version (`champion`, `prod-eu`), else raise `ValueError`.

    Aliases are identifiers; `latest` is reserved (it always means the newest version).
    """
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or len(alias) > ALIAS_MAX:
        raise ValueError(
            f"invalid alias {alias!r}: expected an identifier of at most {ALIAS_MAX} characters"
            " (letters, digits, '_' and '-', starting with a letter or '_'), e.g. 'champion'"
        )
    if alias == LATEST_ALIAS:
        raise ValueError(f"the alias {LATEST_ALIAS!r} is reserved: it always names the newest version")
    return alias


def check_version(version: object) -> int:
    """Return `version` as an int if it is a version number (1, 2, …), else raise `ValueError`."""
    if isinstance(version, bool):
        raise ValueError(f"invalid model version {version!r}: expected a whole number from 1")
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"invalid model version {version!r}: expected a whole number from 1")
    return version


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One version of a registered model, by number or by alias (exactly one of the two is set)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if self.version is not None else f"{self.name}@{self.alias}"


def parse_model_uri(uri: str) -> ModelRef:
    """Parse `models:/name/3`, `models:/name@alias`, `name/3` or `name@alias` (`@latest` included).

    Raises:
        ValueError: the URI has neither form, or its name, version or alias is invalid.
    """
    if not isinstance(uri, str):
        raise ValueError(f"invalid model URI {uri!r}: expected a string such as 'main.support.agent@champion'")
    text = uri.removeprefix(MODELS_SCHEME).strip()
    if "@" in text:
        name, _, alias = text.partition("@")
        check_model_name(name)
        if alias == LATEST_ALIAS:
            return ModelRef(name, alias=LATEST_ALIAS)
        return ModelRef(name, alias=check_alias(alias))
    name, sep, version = text.rpartition("/")
    if not sep:
        raise ValueError(
            f"invalid model URI {uri!r}: name a version or an alias, e.g. 'models:/{text}/1' or"
            f" 'models:/{text}@champion'"
        )
    return ModelRef(check_model_name(name), version=check_version(version))


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model: an immutable package of code, requirements and config.

    Attributes:
        name: the registered model, `catalog.schema.name`.
        version: 1, 2, … in the order they were logged.
        artifact_uri: where the version's package lives (a folder or an `s3://` prefix).
        status: `READY` (a version is only registered once its agent loaded and answered).
        creation_time: ms since the epoch.
        last_update_time: ms since the epoch.
        source: where the code came from when it was logged (a path on the logging machine).
        description: free text.
        status_message: details of the status.
        tags: string keys and values.
        aliases: the aliases pointing at this version.
    """

    name: str
    version: int
    artifact_uri: str
    status: str = READY
    creation_time: int = 0
    last_update_time: int = 0
    source: str | None = None
    description: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """`models:/<name>/<version>`: what `load_agent` and `deploy` accept."""
        return f"{MODELS_SCHEME}{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "status": self.status,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "source": self.source,
            "description": self.description,
            "status_message": self.status_message,
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            artifact_uri=str(data["artifact_uri"]),
            status=str(data.get("status", READY)),
            creation_time=int(data.get("creation_time", 0)),
            last_update_time=int(data.get("last_update_time", 0)),
            source=data.get("source"),
            description=data.get("description"),
            status_message=data.get("status_message"),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            aliases=tuple(str(a) for a in data.get("aliases") or ()),
        )


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named agent (`catalog.schema.name`) whose versions are logged with `log_agent`.

    Attributes:
        name: `catalog.schema.name`.
        creation_time: ms since the epoch.
        last_update_time: ms since the epoch (bumped by new versions and alias changes).
        description: free text.
        tags: string keys and values.
        aliases: alias → version number.
        latest_version: the newest version's number, None before the first.
    """

    name: str
    creation_time: int = 0
    last_update_time: int = 0
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "latest_version": self.latest_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegisteredModel:
        latest = data.get("latest_version")
        return cls(
            name=str(data["name"]),
            creation_time=int(data.get("creation_time", 0)),
            last_update_time=int(data.get("last_update_time", 0)),
            description=data.get("description"),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            latest_version=None if latest is None else int(latest),
        )
