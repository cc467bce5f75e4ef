"""`ServerSettings`: everything `create_app` needs, built once by the CLI (or a test), never at import."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracelake.exceptions import ConfigError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SETTINGS_ENV", "ServerSettings"]

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024

#: Carries the settings from `tracelake server` to its worker processes (`--workers N`), which
#: uvicorn starts by import string and which therefore cannot be handed an object. Internal.
SETTINGS_ENV: Final = "_TRACELAKE_SERVER_SETTINGS"


def _is_int_at_least(value: object, minimum: int) -> bool:
    """Whether `value` is an int (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


@dataclass(frozen=True)
class ServerSettings:
    """How one `tracelake server` runs.

    Raises:
        ConfigError: a value is out of range; the message names the setting.
    """

    database_url: str
    """`sqlite:///…` or `postgresql://…`: the SQL index."""
    default_artifact_root: str
    """Where experiments created without an `artifact_location` keep their payloads (a folder or URI)."""
    allowed_artifact_roots: tuple[str, ...] = ()
    """Further locations inside which a client may put an experiment's `artifact_location` (inside
    `default_artifact_root` is always allowed): a client must never make the server write anywhere."""
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    """Server processes (uvicorn workers) sharing the port."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body, on the wire and after decompression; larger ones get 413."""
    ingest_queue_size: int = 16
    """OTLP requests being read, decoded or written at once; beyond it senders get 429."""
    ingest_concurrency: int | None = None
    """OTLP requests one server process decodes and writes at once (the others admitted wait their
    turn). None: 1 on SQLite, whose writes take turns anyway and whose write lock is held twice as
    long when the writer's thread competes for the GIL with other requests' decoding; 4 on
    PostgreSQL, where writes of different traces run side by side. More throughput on SQLite comes
    from `workers`: processes decode in parallel while one writes."""
    reconnect_after_requests: int | None = None
    """With several `workers`: once a connection has carried this many OTLP requests, an answer
    sent while other requests wait their turn in this process asks the sender to reconnect
    (`Connection: close`), so that it may land on a less busy process (server/rebalance.py); 0:
    never. None: 10 with several workers, never with one."""
    retry_after_seconds: int = 1
    """What a 429 or 503 asks senders to wait (`Retry-After`)."""
    retention_interval_s: float = 600.0
    """How often experiments' retention settings are enforced in the background; 0 turns it off."""
    freeze_gc: bool = False
    """Move everything alive once the app has started (modules, the store) out of the garbage
    collector's sight (`gc.freeze()`). The server process is ours: its full collections then walk
    only what requests allocate, not the ~100,000 objects of its libraries. `tracelake server` sets
    it; an app that embeds `create_app` in a process of its own leaves it off."""
    auth: bool = False
    """Require authentication and check permissions on every route but `/health` (docs/auth.md)."""
    session_max_age_s: int = 12 * 3600
    """How long a UI login lasts."""
    access_token_ttl_s: int = 3600
    """Lifetime of the access tokens the client-credentials endpoint issues to service principals."""
    auth_attempts_per_minute: int = 10
    """Failed logins (and token requests) allowed per minute per client address and per account; then 429."""

    def __post_init__(self) -> None:
        if not self.database_url:
            raise ConfigError("database_url must not be empty")
        if not self.default_artifact_root:
            raise ConfigError("default_artifact_root must not be empty")
        for name in (
            "workers",
            "max_body_bytes",
            "ingest_queue_size",
            "retry_after_seconds",
            "session_max_age_s",
            "access_token_ttl_s",
            "auth_attempts_per_minute",
        ):
            value = getattr(self, name)
            if not _is_int_at_least(value, 1):
                raise ConfigError(f"{name}={value!r} is invalid: expected a positive integer")
        concurrency = self.ingest_concurrency
        if concurrency is not None and not _is_int_at_least(concurrency, 1):
            raise ConfigError(f"ingest_concurrency={concurrency!r} is invalid: expected a positive integer or None")
        reconnect_after = self.reconnect_after_requests
        if reconnect_after is not None and not _is_int_at_least(reconnect_after, 0):
            raise ConfigError(
                f"reconnect_after_requests={reconnect_after!r} is invalid: expected 0 or a positive integer, or None"
            )
        if not _is_int_at_least(self.port, 0) or self.port > 65535:
            raise ConfigError(f"port={self.port!r} is invalid: expected 0 to 65535")
        object.__setattr__(self, "allowed_artifact_roots", tuple(self.allowed_artifact_roots))

    def ingest_concurrency_for(self, dialect_name: str) -> int:
        """The OTLP requests a process handles at once on this database (see `ingest_concurrency`)."""
        if self.ingest_concurrency is not None:
            return self.ingest_concurrency
        return 1 if dialect_name == "sqlite" else 4

    def reconnect_after_requests_or_default(self) -> int:
        """Requests a connection carries before a busy process may ask its sender to reconnect (0: never)."""
        if self.reconnect_after_requests is not None:
            return self.reconnect_after_requests
        return 10 if self.workers > 1 else 0

    @classmethod
    def for_home(cls, home: str | Path, **overrides: Any) -> ServerSettings:
        """Settings over the embedded store's folder: the layout the SDK writes when it runs embedded.

        Args:
            home: the folder (`TRACELAKE_HOME`, default `./tracelake-data`).
            **overrides: any other field.
        """
        from sqlalchemy.engine import URL

        from tracelake.store import ARTIFACTS_DIR, DATABASE_FILE

        root = Path(home).expanduser().absolute()
        overrides.setdefault("default_artifact_root", str(root / ARTIFACTS_DIR))
        # Rendered by SQLAlchemy, which escapes the '?', '#' and '%' a folder name may contain.
        database = URL.create("sqlite", database=str(root / DATABASE_FILE)).render_as_string(hide_password=False)
        return cls(database_url=overrides.pop("database_url", database), **overrides)

    @property
    def url(self) -> str:
        """The base URL clients use (`http://host:port`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def to_json(self) -> str:
        """Serialise (for handing to worker processes through `SETTINGS_ENV`)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        """Inverse of `to_json`.

        Raises:
            ConfigError: the text is not settings JSON.
        """
        try:
            values = json.loads(text)
            values["allowed_artifact_roots"] = tuple(values.get("allowed_artifact_roots") or ())
            return cls(**values)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{SETTINGS_ENV} does not hold server settings: {exc}") from None
