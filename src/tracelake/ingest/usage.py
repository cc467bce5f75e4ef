"""Token usage and cost: counts from any convention, prices from genai-prices' bundled snapshot.

Cost is computed offline only. genai-prices can refresh its price table over the network
(`UpdatePrices`); ingest never starts that, so results depend only on the installed package version
and the span's start time (prices are looked up as of then).

genai-prices' `calc_price` costs ~55 µs a call, too much for every LLM span on the export thread.
For the common case (per-token prices, below any long-context tier) the price is linear in the
counts, so the per-token rates are read once from the model's price entry and multiplied here. The
first use of each price entry is checked against `calc_price`; any entry that is tiered, charges per
request or disagrees with the check is always priced by the library.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from types import ModuleType
from typing import Any, Final, cast

from tracelake.ingest.conventions._base import make_usage
from tracelake.ingest.prices import find_price
from tracelake.model import Cost, TokenUsage

__all__ = ["compute_cost", "normalize_usage"]

_logger = logging.getLogger(__name__)

# Caches keyed by values that come off the wire are bounded; clearing is fine, they only save time.
_CACHE_MAX: Final = 4096
_UNKNOWN: Final = "unknown"
# OTLP times are unsigned 64-bit nanoseconds (up to year 2554): always a valid datetime.
_NS_MAX: Final = 2**64
# (model, provider) → the genai-prices (ModelInfo, Provider) that price it, or _UNKNOWN.
_MODELS: dict[tuple[str, str | None], Any] = {}
# id(ModelPrice) → (the ModelPrice, its rates or None when only the library can price it).
_RATES: dict[int, tuple[Any, _Rates | None]] = {}
# (id(ModelPrice), with cached tokens) pairs whose fast path agreed with the library.
_CHECKED: set[tuple[int, bool]] = set()


def normalize_usage(
    input_tokens: Any = None,
    output_tokens: Any = None,
    total_tokens: Any = None,
    cached_input_tokens: Any = None,
    reasoning_tokens: Any = None,
) -> TokenUsage | None:
    """Build a TokenUsage from raw counts (ints, floats or numeric strings).

    Args:
        input_tokens: Prompt tokens, including cached ones.
        output_tokens: Completion tokens, including reasoning ones.
        total_tokens: Reported total; input + output when missing.
        cached_input_tokens: Prompt tokens read from a cache.
        reasoning_tokens: Completion tokens spent on reasoning.

    Returns:
        The usage, or None when neither input, output nor total is given.
    """
    return make_usage(input_tokens, output_tokens, total_tokens, cached_input_tokens, reasoning_tokens)


def compute_cost(
    usage: TokenUsage, model: str, provider: str | None = None, timestamp_ns: int | None = None
) -> Cost | None:
    """Price an LLM call from its token usage: the user's price if set, else genai-prices' bundled snapshot.

    Cached input tokens are priced at the model's cache-read rate where it has one; they are
    counted as part of `input_tokens`, as OpenAI and OpenTelemetry GenAI report them.

    Args:
        usage: Token counts of the call.
        model: Model name as reported (e.g. `gpt-4o-mini` or `gpt-4o-mini-2024-07-18`).
        provider: Provider id as reported (`openai`, `anthropic`, `aws.bedrock`, ...); when the
            snapshot does not know it, the model name alone is matched.
        timestamp_ns: When the call happened (prices change over time); now when None.

    Returns:
        The cost in US dollars, or None when the model is unknown or the counts cannot be priced.
        Never raises. Prices set with `tracelake.ingest.prices` (or its file) win over genai-prices.
    """
    if usage.input_tokens == 0 and usage.output_tokens == 0:
        return None
    if timestamp_ns and not 0 < timestamp_ns < _NS_MAX:
        # The span's datetime is built only when a price needs it, but a time outside OTLP's range
        # still fails here, as it always has (datetime's range ends in year 9999).
        _when(timestamp_ns)
    try:
        override = find_price(model, provider)
        if override is not None:
            return override.cost(usage)
        key = (model, provider)
        match = _MODELS.get(key)
        if match is None:
            return _first_cost(key, usage, _when(timestamp_ns))
        if match is _UNKNOWN:
            return None
        model_info, price_provider = match
        prices = model_info.prices
        if isinstance(prices, _model_price_type()):
            # One price for all time (most models): the span's time is not needed, and building
            # its datetime would cost more than the rest of the fast path.
            model_price = prices
        else:
            model_price = model_info.get_prices(_when(timestamp_ns) or datetime.now(tz=timezone.utc))
        rates = _rates(model_price)
        if rates is None or usage.input_tokens >= rates.linear_below:
            return _library_cost(usage, model_info, price_provider, _when(timestamp_ns))
        cost = rates.cost(usage)
        check = (id(model_price), usage.cached_input_tokens > 0)
        if check not in _CHECKED:
            exact = _library_cost(usage, model_info, price_provider, _when(timestamp_ns))
            if not _close(cost, exact):
                _RATES[id(model_price)] = (model_price, None)
                return exact
            _CHECKED.add(check)
        return cost
    except Exception:  # a pricing bug must never lose the span
        _logger.debug("could not price model %r (provider %r)", model, provider, exc_info=True)
        return None


def _when(timestamp_ns: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp_ns / 1e9, tz=timezone.utc) if timestamp_ns else None


@functools.cache
def _model_price_type() -> type[Any]:
    return cast("type[Any]", _genai_prices().types.ModelPrice)


@functools.cache
def _genai_prices() -> ModuleType:
    # Importing genai_prices loads its whole price table (~120 ms): pay for it on the first LLM span
    # with usage, not at `import tracelake.ingest`.
    import genai_prices

    return genai_prices


def _first_cost(key: tuple[str, str | None], usage: TokenUsage, when: datetime | None) -> Cost | None:
    """Price through the library and remember which model entry matched (or that none did)."""
    model, provider = key
    prices = _genai_prices()
    # A provider name the snapshot does not know (a gateway, a self-hosted endpoint) should not
    # hide a model it does know: retry on the model name alone.
    for provider_id in (provider, None) if provider else (None,):
        try:
            calculation = prices.calc_price(
                _library_usage(prices, usage), model_ref=model, provider_id=provider_id, genai_request_timestamp=when
            )
        except LookupError:
            continue
        _remember(key, (calculation.model, calculation.provider))
        return _to_cost(calculation)
    _remember(key, _UNKNOWN)
    return None


def _remember(key: tuple[str, str | None], model_info: Any) -> None:
    if len(_MODELS) >= _CACHE_MAX:
        _MODELS.clear()
    _MODELS[key] = model_info


def _library_cost(usage: TokenUsage, model_info: Any, provider: Any, when: datetime | None) -> Cost:
    calculation = model_info.calc_price(_library_usage(_genai_prices(), usage), provider, genai_request_timestamp=when)
    return _to_cost(calculation)


def _library_usage(prices: ModuleType, usage: TokenUsage) -> Any:
    # genai-prices subtracts cache reads from input tokens; a source reporting more cached than
    # input tokens would make that negative, so cap it.
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    if cached:
        return prices.Usage(
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cache_read_tokens=cached
        )
    return prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


def _to_cost(calculation: Any) -> Cost:
    return Cost(
        input_cost=float(calculation.input_price),
        output_cost=float(calculation.output_price),
        total_cost=float(calculation.total_price),
    )


def _close(a: Cost, b: Cost) -> bool:
    pairs = ((a.input_cost, b.input_cost), (a.output_cost, b.output_cost), (a.total_cost, b.total_cost))
    return all(abs(x - y) <= 1e-12 + 1e-9 * abs(y) for x, y in pairs)


@dataclass(frozen=True, slots=True)
class _Rates:
    """Prices per million tokens of one price entry, valid while input tokens stay below `linear_below`."""

    input: float
    output: float
    cache_read: float | None
    linear_below: float

    def cost(self, usage: TokenUsage) -> Cost:
        cached = min(usage.cached_input_tokens, usage.input_tokens) if self.cache_read is not None else 0
        # Dividing once at the end keeps round prices round (0.000135, not 0.00013499999999999997).
        input_micros = (usage.input_tokens - cached) * self.input + cached * (self.cache_read or 0.0)
        output_micros = usage.output_tokens * self.output
        return Cost(input_micros / 1e6, output_micros / 1e6, (input_micros + output_micros) / 1e6)


def _rates(model_price: Any) -> _Rates | None:
    entry = _RATES.get(id(model_price))
    if entry is not None and entry[0] is model_price:
        return entry[1]
    rates = _linear_rates(model_price)
    if len(_RATES) >= _CACHE_MAX:
        _RATES.clear()
    _RATES[id(model_price)] = (model_price, rates)
    return rates


def _linear_rates(model_price: Any) -> _Rates | None:
    """Read per-token rates, or None when the entry is not linear in the counts tracelake reports."""
    if getattr(model_price, "requests_kcount", None) is not None:
        return None  # a per-request fee: not a multiple of the token counts
    linear_below = float("inf")
    rates: list[float | None] = []
    for name in ("input_mtok", "output_mtok", "cache_read_mtok"):
        price = getattr(model_price, name, None)
        if price is None:
            rates.append(None)
        elif isinstance(price, Decimal):
            rates.append(float(price))
        else:
            # Tiered (long-context) prices: the base rate holds up to the first tier's start.
            base, tiers = getattr(price, "base", None), getattr(price, "tiers", None)
            if not isinstance(base, Decimal) or not tiers:
                return None
            linear_below = min(linear_below, min(tier.start for tier in tiers))
            rates.append(float(base))
    input_rate, output_rate, cache_rate = rates
    if input_rate is None or output_rate is None:
        return None
    return _Rates(input_rate, output_rate, cache_rate, linear_below)
