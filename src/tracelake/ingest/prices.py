"""Prices users add or override: `tracelake.set_model_price(...)` and the `TRACELAKE_PRICES_FILE`.

genai-prices prices the models it knows; a fine-tune, a self-hosted model or a negotiated rate needs
a price of the user's. An override wins over genai-prices for the models it names, wherever ingest
runs: in the app's process (embedded mode, `set_model_price`) or in `tracelake server` (the file,
named by `TRACELAKE_PRICES_FILE` in the server's environment).

The file is JSON, or YAML when PyYAML is installed (`.yaml`/`.yml`):

    {"models": {
        "my-finetune": {"input_per_mtok": 0.3, "output_per_mtok": 1.2, "cached_input_per_mtok": 0.15},
        "ft:gpt-4o-mini:*": {"input_per_mtok": 0.3, "output_per_mtok": 1.2},
        "llama-3-70b": {"input_per_mtok": 0, "output_per_mtok": 0, "provider": "self-hosted"}}}

Model names match case-insensitively; `*` and `?` are wildcards. Exact names win over patterns,
patterns apply in file order, and prices set in code win over the file. The file is re-read when
it changes, so a running server picks up new prices for the spans it ingests from then on (use
`tracelake traces recompute-cost` for the past).
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracelake.model import Cost, TokenUsage

__all__ = [
    "PRICES_FILE_ENV",
    "ModelPrice",
    "PricesFileError",
    "clear_model_prices",
    "find_price",
    "load_prices_file",
    "remove_model_price",
    "set_model_price",
]

_logger = logging.getLogger(__name__)

#: The environment variable naming the prices file (listed in tracelake._config too).
PRICES_FILE_ENV: Final = "TRACELAKE_PRICES_FILE"
# How often lookups look at the file's modification time: cheap, but not on every span.
_CHECK_EVERY_S: Final = 2.0


class PricesFileError(ValueError):
    """The prices file cannot be read or holds an invalid price; the message names the problem."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per million tokens.

    Cached input tokens are part of the input tokens (as OpenAI and OpenTelemetry GenAI count them)
    and cost `cached_input_per_mtok` instead of `input_per_mtok` (the input rate when None).
    Reasoning tokens are part of the output tokens and cost the output rate.
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok"):
            value = getattr(self, name)
            if value is None and name == "cached_input_per_mtok":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{name}={value!r} is invalid: expected a price of 0 or more (USD per million tokens)")

    def cost(self, usage: TokenUsage) -> Cost:
        """Price `usage` at these rates."""
        cached = min(usage.cached_input_tokens, usage.input_tokens) if self.cached_input_per_mtok is not None else 0
        input_micros = (usage.input_tokens - cached) * self.input_per_mtok + cached * (
            self.cached_input_per_mtok or 0.0
        )
        output_micros = usage.output_tokens * self.output_per_mtok
        return Cost(input_micros / 1e6, output_micros / 1e6, (input_micros + output_micros) / 1e6)


@dataclass(frozen=True, slots=True)
class _Entry:
    pattern: str  # lowercased
    provider: str | None
    price: ModelPrice


class _Table:
    """Exact names by (name, provider) and patterns in order: one source's prices."""

    __slots__ = ("exact", "patterns")

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str | None], ModelPrice] = {}
        self.patterns: list[_Entry] = []

    def put(self, model: str, price: ModelPrice, provider: str | None) -> None:
        key = model.lower()
        if any(char in key for char in "*?["):
            self.patterns = [e for e in self.patterns if (e.pattern, e.provider) != (key, provider)]
            self.patterns.append(_Entry(key, provider, price))
        else:
            self.exact[(key, provider)] = price

    def remove(self, model: str, provider: str | None) -> bool:
        key = model.lower()
        before = len(self.patterns)
        self.patterns = [e for e in self.patterns if (e.pattern, e.provider) != (key, provider)]
        return self.exact.pop((key, provider), None) is not None or len(self.patterns) != before

    def find(self, model: str, provider: str | None) -> ModelPrice | None:
        key = model.lower()
        exact = self.exact
        if exact:
            price = (provider is not None and exact.get((key, provider))) or exact.get((key, None))
            if price:
                return price
        for entry in self.patterns:
            if (entry.provider is None or entry.provider == provider) and fnmatch.fnmatchcase(key, entry.pattern):
                return entry.price
        return None

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns)


class _Prices:
    """Prices set in code, then the prices file; process-wide and safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._code = _Table()
        self._file = _Table()
        self._file_key: tuple[str, float] | None = None  # (path, mtime) of the loaded file
        self._checked_at = float("-inf")
        self._checked_path: str | None = None

    def set(self, model: str, price: ModelPrice, provider: str | None) -> None:
        with self._lock:
            self._code.put(model, price, provider)

    def remove(self, model: str, provider: str | None) -> bool:
        with self._lock:
            return self._code.remove(model, provider)

    def clear(self) -> None:
        with self._lock:
            self._code = _Table()
            self._file = _Table()
            self._file_key = None
            self._checked_at = float("-inf")

    def find(self, model: str, provider: str | None) -> ModelPrice | None:
        self._refresh()
        code, file = self._code, self._file
        # Every priced span asks, and most processes set no prices: test the tables' contents here
        # rather than through `_Table.__bool__`, a Python-level call each.
        if (code.exact or code.patterns) and (price := code.find(model, provider)) is not None:
            return price
        return file.find(model, provider) if file.exact or file.patterns else None

    def _refresh(self) -> None:
        path = os.environ.get(PRICES_FILE_ENV) or None
        now = time.monotonic()
        if path == self._checked_path and now - self._checked_at < _CHECK_EVERY_S:
            return
        with self._lock:
            self._checked_path, self._checked_at = path, now
            if path is None:
                self._file, self._file_key = _Table(), None
                return
            try:
                key = (path, Path(path).stat().st_mtime)
            except OSError:
                key = (path, -1.0)
            if key == self._file_key:
                return
            self._file_key = key
            try:
                self._file = _table(read_prices_file(path))
            except PricesFileError as exc:
                # Ingest must go on: spans keep genai-prices' costs, and the log says why.
                _logger.error("tracelake: %s=%s is ignored: %s", PRICES_FILE_ENV, path, exc)
                self._file = _Table()


_PRICES = _Prices()


def set_model_price(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cached_input_per_mtok: float | None = None,
    provider: str | None = None,
) -> ModelPrice:
    """Add or override the price of a model for the spans ingested in this process from now on.

    Args:
        model: model name as spans report it (case-insensitive); `*` and `?` are wildcards.
        input_per_mtok: USD per million input tokens.
        output_per_mtok: USD per million output tokens (reasoning tokens included).
        cached_input_per_mtok: USD per million input tokens read from a cache; the input rate when None.
        provider: only for spans of this provider (`openai`, ...); any provider when None.

    Returns:
        The price set.

    Raises:
        ValueError: a price is negative or not a number, or the model name is empty.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError("model must be a non-empty model name or pattern")
    price = ModelPrice(input_per_mtok, output_per_mtok, cached_input_per_mtok)
    _PRICES.set(model.strip(), price, provider)
    return price


def remove_model_price(model: str, provider: str | None = None) -> bool:
    """Remove a price set with `set_model_price`; return whether there was one."""
    return _PRICES.remove(model.strip(), provider)


def clear_model_prices() -> None:
    """Forget every price set in code and the loaded file (it is read again on next use)."""
    _PRICES.clear()


def find_price(model: str, provider: str | None = None) -> ModelPrice | None:
    """Return the user's price for a model, or None when genai-prices should price it."""
    return _PRICES.find(model, provider)


def read_prices_file(path: str | Path) -> dict[tuple[str, str | None], ModelPrice]:
    """Read and check a prices file.

    Returns:
        The prices by (model name or pattern, provider), in file order.

    Raises:
        PricesFileError: the file is missing, unreadable, or holds an invalid entry (named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricesFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    data = _parse(text, path)
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise PricesFileError(f'{path} must hold an object {{"models": {{"<model>": {{...}}}}}}')
    prices: dict[tuple[str, str | None], ModelPrice] = {}
    for model, entry in models.items():
        if not isinstance(entry, Mapping):
            raise PricesFileError(f"{path}: the price of {model!r} must be an object")
        unknown = set(entry) - {"input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "provider"}
        if unknown:
            raise PricesFileError(f"{path}: the price of {model!r} has unknown keys {sorted(unknown)}")
        try:
            price = ModelPrice(entry["input_per_mtok"], entry["output_per_mtok"], entry.get("cached_input_per_mtok"))
        except KeyError as exc:
            raise PricesFileError(f"{path}: the price of {model!r} lacks {exc.args[0]}") from None
        except ValueError as exc:
            raise PricesFileError(f"{path}: the price of {model!r}: {exc}") from None
        provider = entry.get("provider")
        prices[(str(model), None if provider is None else str(provider))] = price
    return prices


def load_prices_file(path: str | Path) -> int:
    """Check a prices file now (e.g. at start-up, to fail early); return how many prices it holds.

    Raises:
        PricesFileError: the file is invalid.
    """
    return len(read_prices_file(path))


def _parse(text: str, path: Path) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            yaml: Any = importlib.import_module("yaml")  # optional: PyYAML
        except ImportError:
            raise PricesFileError(f"{path} is YAML but PyYAML is not installed: pip install pyyaml") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PricesFileError(f"{path} is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PricesFileError(f"{path} is not valid JSON: {exc}") from None


def _table(prices: Mapping[tuple[str, str | None], ModelPrice]) -> _Table:
    table = _Table()
    for (model, provider), price in prices.items():
        table.put(model, price, provider)
    return table
