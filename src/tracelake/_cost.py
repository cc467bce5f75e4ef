"""The SDK face of cost: user prices and recomputing the costs of stored traces.

Light at import (`import tracelake` loads it): `tracelake.ingest` is imported when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["recompute_costs", "set_model_price"]


def set_model_price(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cached_input_per_mtok: float | None = None,
    provider: str | None = None,
) -> None:
    """Add or override a model's price (USD per million tokens) for the spans ingested in this process.

    It wins over the genai-prices table. In embedded mode this process ingests its own spans; a
    tracelake server prices with its own settings: give it a `TRACELAKE_PRICES_FILE` (docs/cost.md).

    Args:
        model: model name as spans report it (case-insensitive); `*` and `?` are wildcards, e.g.
            `ft:gpt-4o-mini:*`.
        input_per_mtok: price of a million input tokens.
        output_per_mtok: price of a million output tokens (reasoning tokens included).
        cached_input_per_mtok: price of a million input tokens read from a cache; the input price
            when None.
        provider: only for spans of this provider (e.g. `openai`); any provider when None.

    Raises:
        ValueError: a price is negative or not a number, or the model name is empty.
    """
    from tracelake.ingest.prices import set_model_price as set_price

    set_price(
        model,
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cached_input_per_mtok=cached_input_per_mtok,
        provider=provider,
    )


def recompute_costs(
    experiment_id: str | None = None, *, experiment_name: str | None = None, since_ms: int | None = None
) -> dict[str, Any]:
    """Price the stored LLM spans of an experiment again with today's prices; update spans and trace totals.

    Use it after changing prices (`set_model_price`, the prices file, or a genai-prices upgrade).
    Costs a span carried itself (`cost_usd=`, an instrumentor's cost) are kept. In remote mode the
    server recomputes, with its prices.

    Args:
        experiment_id: the experiment; or give `experiment_name`.
        experiment_name: the experiment's name.
        since_ms: only traces that started at or after this time (Unix ms).

    Returns:
        `traces_checked`, `traces_changed`, `spans_changed`, and `retry_trace_ids` (traces that
        changed while being repriced: run it again for them).

    Raises:
        ConfigError: neither or both of experiment_id and experiment_name given.
        NotFoundError: no such experiment.
    """
    from tracelake._setup import get_backend
    from tracelake.exceptions import ConfigError, NotFoundError

    if (experiment_id is None) == (experiment_name is None):
        raise ConfigError("recompute_costs() needs exactly one of experiment_id or experiment_name")
    backend = get_backend()
    if experiment_name is not None:
        experiment = backend.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise NotFoundError(f"no experiment named {experiment_name!r}")
        experiment_id = experiment.experiment_id
    return backend.recompute_costs(str(experiment_id), since_ms)
