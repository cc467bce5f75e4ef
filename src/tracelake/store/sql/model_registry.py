"""The model registry methods of `SqlTraceStore`: registered models, versions with their packages, aliases.

A version's package (one archive, see `tracelake.agents.packaging`) is an object under the store's
default artifact root, `<root>/models/<name>/<version>-<token>/package.tar.gz`. The random token
keeps a writer that lost the race for a version number from overwriting the winner's package; the
row records where the package is, so readers never guess. The package is written before the row is
committed: a crash in between leaves an unreachable object, never a version without its package.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from tracelake.exceptions import ConflictError, InvalidArgumentError, NotFoundError, StoreError
from tracelake.model import ModelRef, ModelVersion, RegisteredModel
from tracelake.model._registry import LATEST_ALIAS, READY
from tracelake.store.artifacts import ArtifactRepositories, join_uri
from tracelake.store.sql import registry as reg
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.errors import is_retryable, is_unique_violation, store_errors

logger = logging.getLogger(__name__)

#: The object holding a version's package, under the version's artifact URI.
PACKAGE_KEY = "package.tar.gz"
#: Folder of model packages under the default artifact root (experiment folders are numbers).
MODELS_FOLDER = "models"

_ATTEMPTS = 5


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ModelRegistryMethods:
    """Mixed into `SqlTraceStore`: the registry over the same database and artifact root.

    Thread contract: as `SqlTraceStore`; writes are serialised with the store's other writes.
    """

    _engine: Engine
    _write_lock: contextlib.AbstractContextManager[Any]
    _repositories: ArtifactRepositories
    _default_artifact_root: str

    # Registered models -----------------------------------------------------------------------------

    @store_errors("create registered model")
    def create_registered_model(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model named `catalog.schema.name`.

        Raises:
            InvalidArgumentError: the name or a tag is invalid.
            ConflictError: a model with this name exists.
        """
        reg.valid_name(name)
        checked = reg.check_tags(tags)
        try:
            with self._write_lock, write_transaction(self._engine) as connection:
                reg.insert_model(connection, name, description, checked, _now_ms())
                return reg.load_model(connection, name)
        except StoreError:
            raise
        except Exception as exc:
            if is_unique_violation(exc):
                raise ConflictError(f"a registered model named {name!r} exists") from exc
            raise

    @store_errors("get registered model")
    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return the model with its aliases and latest version; `NotFoundError` if missing."""
        with read_connection(self._engine) as connection:
            return reg.load_model(connection, reg.valid_name(name))

    @store_errors("list registered models")
    def list_registered_models(self) -> list[RegisteredModel]:
        """Return every registered model, by name."""
        with read_connection(self._engine) as connection:
            return reg.list_models(connection)

    @store_errors("delete registered model")
    def delete_registered_model(self, name: str) -> None:
        """Delete a model, its versions and aliases, then its packages; `NotFoundError` if missing."""
        with self._write_lock, write_transaction(self._engine) as connection:
            uris = reg.delete_model(connection, reg.valid_name(name))
        for uri in uris:
            self._delete_package(uri)

    # Versions --------------------------------------------------------------------------------------

    @store_errors("create model version")
    def create_model_version(
        self,
        name: str,
        package: bytes,
        source: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Store a package as the model's next version (1 for a new model, which is created).

        The caller validates the package first (`tracelake.agents.log_agent` loads the agent in a
        fresh process); the store keeps the bytes as given.

        Raises:
            InvalidArgumentError: the name or a tag is invalid, or the package is empty.
        """
        reg.valid_name(name)
        checked = reg.check_tags(tags)
        if not isinstance(package, bytes | bytearray) or not package:
            raise InvalidArgumentError("a model version needs a non-empty package")
        location = join_uri(self._default_artifact_root, MODELS_FOLDER, name, f"{secrets.token_hex(8)}")
        repository = self._repositories(location)
        repository.put(PACKAGE_KEY, bytes(package))
        try:
            return self._insert_version(name, location, source, description, checked)
        except BaseException:
            self._delete_package(location)
            raise

    def _insert_version(
        self, name: str, location: str, source: str | None, description: str | None, tags: dict[str, str]
    ) -> ModelVersion:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._write_lock, write_transaction(self._engine) as connection:
                    now = _now_ms()
                    if not reg.model_exists(connection, name, for_update=True):
                        reg.insert_model(connection, name, None, {}, now)
                    number = reg.next_version(connection, name)
                    version = ModelVersion(
                        name=name,
                        version=number,
                        artifact_uri=location,
                        status=READY,
                        creation_time=now,
                        last_update_time=now,
                        source=source,
                        description=description,
                        tags=tags,
                    )
                    reg.insert_version(connection, version)
                    reg.touch_model(connection, name, now)
                    return version
            except Exception as exc:
                # Another writer created the model or took the number first: read again and retry.
                if attempt < _ATTEMPTS and (is_unique_violation(exc) or is_retryable(exc)):
                    continue
                raise
        raise StoreError(f"could not register a version of {name!r}: it kept changing")  # pragma: no cover

    @store_errors("get model version")
    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Return one version; `NotFoundError` naming what is missing (the model or the version)."""
        with read_connection(self._engine) as connection:
            return reg.load_version(connection, reg.valid_name(name), reg.valid_version(version))

    @store_errors("list model versions")
    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Return the model's versions, newest first; `NotFoundError` if the model is missing."""
        with read_connection(self._engine) as connection:
            return reg.list_versions(connection, reg.valid_name(name))

    @store_errors("resolve model version")
    def resolve_model_version(self, ref: ModelRef) -> ModelVersion:
        """Return the version a `ModelRef` names (a number, an alias, or `latest`).

        Raises:
            NotFoundError: the model, version or alias does not exist (the message says which).
        """
        name = reg.valid_name(ref.name)
        with read_connection(self._engine) as connection:
            if ref.version is not None:
                number = reg.valid_version(ref.version)
            elif ref.alias == LATEST_ALIAS:
                number = reg.latest_version(connection, name)
            else:
                number = reg.version_of_alias(connection, name, reg.valid_alias(ref.alias))
            return reg.load_version(connection, name, number)

    @store_errors("read model package")
    def get_model_version_package(self, name: str, version: int | str) -> bytes:
        """Return the package archive of a version; `NotFoundError` if the version is missing."""
        model_version = self.get_model_version(name, version)
        try:
            return self._repositories(model_version.artifact_uri).get(PACKAGE_KEY)
        except NotFoundError:
            raise StoreError(
                f"the package of {name!r} version {model_version.version} is missing from"
                f" {model_version.artifact_uri} (was the artifact storage changed?)"
            ) from None

    # Aliases ---------------------------------------------------------------------------------------

    @store_errors("set model alias")
    def set_model_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point `alias` at a version (moving it from any other version); return that version.

        Raises:
            InvalidArgumentError: the alias is invalid (or `latest`, which is reserved).
            NotFoundError: the model or the version does not exist.
        """
        name, alias, number = reg.valid_name(name), reg.valid_alias(alias), reg.valid_version(version)
        with self._write_lock, write_transaction(self._engine) as connection:
            reg.set_alias(connection, name, alias, number)
            reg.touch_model(connection, name, _now_ms())
            return reg.load_version(connection, name, number)

    @store_errors("delete model alias")
    def delete_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias; `NotFoundError` if the model or the alias does not exist."""
        name, alias = reg.valid_name(name), reg.valid_alias(alias)
        with self._write_lock, write_transaction(self._engine) as connection:
            reg.delete_alias(connection, name, alias)
            reg.touch_model(connection, name, _now_ms())

    def _delete_package(self, location: str) -> None:
        try:
            self._repositories(location).delete_all()
        except StoreError:
            logger.warning("could not delete the model package under %s", location, exc_info=True)
