"""Every TRACELAKE_* setting in one registry: name, type, default and meaning.

Values are read when `tracelake.configure()` runs (explicitly, or lazily at the first span), never
at import. Precedence: explicit argument, then environment variable, then default. A bad value
raises `ConfigError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tracelake.exceptions import ConfigError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_ratio(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("expected a number between 0.0 and 1.0")
    return value


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _parse_non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected 0 or a positive integer")
    return value


def _parse_str(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("expected a non-empty value")
    return value


@dataclass(frozen=True)
class Param(Generic[T]):
    """One setting: its environment variable, parser, default and documentation."""

    env: str
    parse: Callable[[str], T]
    default: T
    doc: str

    def resolve(self, explicit: T | None, environ: Mapping[str, str]) -> T:
        """Return the explicit value if given, else the parsed environment value, else the default."""
        if explicit is not None:
            return explicit
        raw = environ.get(self.env)
        if raw is None or raw == "":
            return self.default
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{self.env}={raw!r} is invalid: {exc}") from None


TRACKING_URI: Param[str | None] = Param(
    "TRACELAKE_TRACKING_URI",
    _parse_str,
    None,
    "Where traces go: unset or a folder path for the embedded store; `sqlite:///…` or `postgresql://…` "
    "for a SQL index written directly; `http(s)://host:port` for a tracelake server.",
)
HOME: Param[str] = Param(
    "TRACELAKE_HOME", _parse_str, "tracelake-data", "Folder of the embedded store (SQLite index and payloads)."
)
EXPERIMENT_NAME: Param[str | None] = Param(
    "TRACELAKE_EXPERIMENT_NAME", _parse_str, None, "Experiment that receives traces; created if missing."
)
EXPERIMENT_ID: Param[str | None] = Param(
    "TRACELAKE_EXPERIMENT_ID", _parse_str, None, "Experiment id that receives traces (wins over the name)."
)
TRACING: Param[bool] = Param(
    "TRACELAKE_TRACING", _parse_bool, True, "false turns every decorator and span into a near-free pass-through."
)
SAMPLING_RATIO: Param[float] = Param(
    "TRACELAKE_SAMPLING_RATIO", _parse_ratio, 1.0, "Fraction of traces recorded, decided per trace id at the root."
)
ENVIRONMENT: Param[str | None] = Param(
    "TRACELAKE_ENVIRONMENT", _parse_str, None, "Stamped on every trace as metadata `environment`."
)
MAX_PAYLOAD_BYTES: Param[int] = Param(
    "TRACELAKE_MAX_PAYLOAD_BYTES",
    _parse_positive_int,
    1_000_000,
    "Inputs or outputs larger than this (as JSON) are truncated with a visible marker.",
)
QUEUE_SIZE: Param[int] = Param(
    "TRACELAKE_EXPORT_QUEUE_SIZE",
    _parse_positive_int,
    100_000,
    "Finished spans waiting for export; beyond it new spans are dropped and counted, never blocking.",
)
BATCH_SIZE: Param[int] = Param(
    "TRACELAKE_EXPORT_BATCH_SIZE", _parse_positive_int, 1024, "Spans handed to the store per write."
)
EXPORT_INTERVAL_MS: Param[int] = Param(
    "TRACELAKE_EXPORT_INTERVAL_MS",
    _parse_positive_int,
    500,
    "Longest time a finished span waits before the exporter writes it.",
)
EXPORT_DEFER_GC: Param[bool] = Param(
    "TRACELAKE_EXPORT_DEFER_GC",
    _parse_bool,
    True,
    "The export thread defers Python's garbage collector while it converts a batch (at most 0.5 s).",
)

# Remote mode (TRACELAKE_TRACKING_URI=http(s)://…): see docs/remote.md.
TOKEN: Param[str | None] = Param(
    "TRACELAKE_TOKEN",
    _parse_str,
    None,
    "Bearer token sent to the tracking server with every export and API request.",
)
CLIENT_ID: Param[str | None] = Param(
    "TRACELAKE_CLIENT_ID",
    _parse_str,
    None,
    "A service principal's client id; with TRACELAKE_CLIENT_SECRET, exchanged for short-lived tokens.",
)
CLIENT_SECRET: Param[str | None] = Param(
    "TRACELAKE_CLIENT_SECRET", _parse_str, None, "The secret of TRACELAKE_CLIENT_ID (never sent anywhere else)."
)
EXPORT_TIMEOUT_MS: Param[int] = Param(
    "TRACELAKE_EXPORT_TIMEOUT_MS",
    _parse_positive_int,
    10_000,
    "Timeout of one OTLP request to the tracking server (connect, read, write).",
)
SPOOL_DIR: Param[str | None] = Param(
    "TRACELAKE_SPOOL_DIR",
    _parse_str,
    None,
    "Folder of the disk spool that keeps spans while the server is unreachable (default: TRACELAKE_HOME/spool).",
)
SPOOL_MAX_BYTES: Param[int] = Param(
    "TRACELAKE_SPOOL_MAX_BYTES",
    _parse_non_negative_int,
    256 * 1024 * 1024,
    "Size of the disk spool per server; when full, new batches are dropped and counted. 0 turns spooling off.",
)

# Cost: see docs/cost.md. Read by ingest (tracelake.ingest.prices) wherever spans are ingested:
# the app's process in embedded mode, `tracelake server` in server mode.
PRICES_FILE: Param[str | None] = Param(
    "TRACELAKE_PRICES_FILE",
    _parse_str,
    None,
    "JSON (or YAML) file of model prices that add to or override genai-prices' table; re-read when it changes.",
)


def _parse_positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("expected a positive number")
    return value


# Scorers' LLM judges (tracelake.monitoring): any OpenAI-compatible endpoint; see docs/scorers.md.
JUDGE_BASE_URL: Param[str] = Param(
    "TRACELAKE_JUDGE_BASE_URL",
    _parse_str,
    "https://api.openai.com/v1",
    "Base URL of the OpenAI-compatible endpoint LLM judges call (chat completions).",
)
JUDGE_MODEL: Param[str] = Param("TRACELAKE_JUDGE_MODEL", _parse_str, "gpt-4o-mini", "Model LLM judges ask.")
JUDGE_API_KEY: Param[str | None] = Param(
    "TRACELAKE_JUDGE_API_KEY", _parse_str, None, "API key sent to the judge endpoint as a bearer token."
)
JUDGE_TIMEOUT_S: Param[float] = Param(
    "TRACELAKE_JUDGE_TIMEOUT_S", _parse_positive_float, 60.0, "Longest one judge call may take, in seconds."
)
JUDGE_EXPERIMENT: Param[str | None] = Param(
    "TRACELAKE_JUDGE_EXPERIMENT",
    _parse_str,
    None,
    "Experiment that receives the traces of judge calls (default: `<experiment>-judges`).",
)
SCORER_CONCURRENCY: Param[int] = Param(
    "TRACELAKE_SCORER_CONCURRENCY",
    _parse_positive_int,
    8,
    "Scorer calls (judge requests) in flight at once per worker.",
)

ALL_PARAMS: tuple[Param[Any], ...] = (
    TRACKING_URI,
    HOME,
    EXPERIMENT_NAME,
    EXPERIMENT_ID,
    TRACING,
    SAMPLING_RATIO,
    ENVIRONMENT,
    MAX_PAYLOAD_BYTES,
    QUEUE_SIZE,
    BATCH_SIZE,
    EXPORT_INTERVAL_MS,
    EXPORT_DEFER_GC,
    TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    EXPORT_TIMEOUT_MS,
    SPOOL_DIR,
    SPOOL_MAX_BYTES,
    PRICES_FILE,
    JUDGE_BASE_URL,
    JUDGE_MODEL,
    JUDGE_API_KEY,
    JUDGE_TIMEOUT_S,
    JUDGE_EXPERIMENT,
    SCORER_CONCURRENCY,
)


def environ() -> Mapping[str, str]:
    """Return the process environment (a seam for tests)."""
    return os.environ
