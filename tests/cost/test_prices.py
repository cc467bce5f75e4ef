"""Prices: genai-prices by default, user prices (code or file) on top; unknown models have no cost."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import genai_prices
import pytest

import tracelake
from tracelake.ingest import compute_cost, normalize
from tracelake.ingest import prices as prices_module
from tracelake.ingest.prices import ModelPrice, PricesFileError, load_prices_file
from tracelake.model import Cost, TokenUsage

from .records import T0_NS, record


def library_cost(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Cost:
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None)
    price = genai_prices.calc_price(usage, model_ref=model, provider_id="openai")
    return Cost(float(price.input_price), float(price.output_price), float(price.total_price))


def approx(cost: Cost | None) -> object:
    assert cost is not None
    return pytest.approx((cost.input_cost, cost.output_cost, cost.total_cost), rel=1e-9)


def as_tuple(cost: Cost | None) -> tuple[float, float, float]:
    assert cost is not None
    return cost.input_cost, cost.output_cost, cost.total_cost


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"])
def test_cached_tokens_are_priced_at_the_cache_rate(model: str) -> None:
    usage = TokenUsage(input_tokens=1000, output_tokens=200, total_tokens=1200, cached_input_tokens=600)

    cost = compute_cost(usage, model, "openai", T0_NS)

    assert as_tuple(cost) == approx(library_cost(model, 1000, 200, cached=600))
    # The cached rate is lower: the same call without a cache costs more.
    uncached = compute_cost(TokenUsage(1000, 200, 1200), model, "openai", T0_NS)
    assert cost is not None
    assert uncached is not None
    assert cost.input_cost < uncached.input_cost


def test_reasoning_tokens_are_output_tokens() -> None:
    usage = TokenUsage(input_tokens=100, output_tokens=500, total_tokens=600, reasoning_tokens=400)

    assert as_tuple(compute_cost(usage, "o3-mini", "openai", T0_NS)) == approx(library_cost("o3-mini", 100, 500))


def test_unknown_model_has_no_cost() -> None:
    assert compute_cost(TokenUsage(10, 5, 15), "my-own-finetune", "openai", T0_NS) is None


def test_a_user_price_overrides_and_adds() -> None:
    tracelake.set_model_price("gpt-4o-mini", input_per_mtok=1.0, output_per_mtok=2.0, cached_input_per_mtok=0.5)
    tracelake.set_model_price("my-own-finetune", input_per_mtok=3.0, output_per_mtok=6.0)
    usage = TokenUsage(
        input_tokens=1_000_000, output_tokens=1_000_000, total_tokens=2_000_000, cached_input_tokens=400_000
    )

    assert as_tuple(compute_cost(usage, "gpt-4o-mini", "openai", T0_NS)) == approx(Cost(0.6 + 0.2, 2.0, 2.8))
    # No cached rate: cached tokens cost the input rate.
    assert as_tuple(compute_cost(usage, "My-Own-Finetune", None, T0_NS)) == approx(Cost(3.0, 6.0, 9.0))


def test_patterns_and_providers() -> None:
    tracelake.set_model_price("ft:gpt-4o-mini:*", input_per_mtok=1.0, output_per_mtok=1.0)
    tracelake.set_model_price("llama-3", input_per_mtok=9.0, output_per_mtok=9.0, provider="groq")
    usage = TokenUsage(1_000_000, 0, 1_000_000)

    assert as_tuple(compute_cost(usage, "ft:gpt-4o-mini:acme::abc123", "openai", T0_NS)) == approx(Cost(1.0, 0.0, 1.0))
    assert as_tuple(compute_cost(usage, "llama-3", "groq", T0_NS)) == approx(Cost(9.0, 0.0, 9.0))
    assert compute_cost(usage, "llama-3", "self-hosted", T0_NS) is None
    assert prices_module.remove_model_price("llama-3", provider="groq")
    assert compute_cost(usage, "llama-3", "groq", T0_NS) is None


def test_bad_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="input_per_mtok"):
        tracelake.set_model_price("m", input_per_mtok=-1, output_per_mtok=1)
    with pytest.raises(ValueError, match="model"):
        tracelake.set_model_price(" ", input_per_mtok=1, output_per_mtok=1)


def test_an_explicit_cost_is_never_replaced() -> None:
    tracelake.set_model_price("gpt-4o-mini", input_per_mtok=100.0, output_per_mtok=100.0)

    (batch,) = normalize([record(1, 1, None, tokens=(10, 5), cost=0.25)])

    (span,) = batch.spans
    assert span.cost is not None
    assert span.cost.total_cost == 0.25


def write_prices(path: Path, models: dict[str, object]) -> Path:
    path.write_text(json.dumps({"models": models}))
    return path


@pytest.fixture
def prices_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_prices(tmp_path / "prices.json", {"my-model": {"input_per_mtok": 2, "output_per_mtok": 4}})
    monkeypatch.setenv("TRACELAKE_PRICES_FILE", str(path))
    monkeypatch.setattr(prices_module, "_CHECK_EVERY_S", 0.0)  # look at the file on every lookup
    return path


def test_prices_file_is_applied_and_reread_when_it_changes(prices_file: Path) -> None:
    usage = TokenUsage(1_000_000, 1_000_000, 2_000_000)
    assert as_tuple(compute_cost(usage, "my-model", None, T0_NS)) == approx(Cost(2.0, 4.0, 6.0))

    write_prices(prices_file, {"my-model": {"input_per_mtok": 1, "output_per_mtok": 1}})
    stat = prices_file.stat()
    os.utime(prices_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert as_tuple(compute_cost(usage, "my-model", None, T0_NS)) == approx(Cost(1.0, 1.0, 2.0))


def test_prices_set_in_code_win_over_the_file(prices_file: Path) -> None:
    tracelake.set_model_price("my-model", input_per_mtok=0, output_per_mtok=0)

    assert as_tuple(compute_cost(TokenUsage(10, 10, 20), "my-model", None, T0_NS)) == (0.0, 0.0, 0.0)


def test_yaml_prices_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "models:\n  my-model:\n    input_per_mtok: 5\n    output_per_mtok: 10\n    cached_input_per_mtok: 1\n"
    )
    monkeypatch.setenv("TRACELAKE_PRICES_FILE", str(path))

    usage = TokenUsage(1_000_000, 0, 1_000_000, cached_input_tokens=500_000)
    assert as_tuple(compute_cost(usage, "my-model", None, T0_NS)) == approx(Cost(3.0, 0.0, 3.0))
    assert load_prices_file(path) == 1


def test_an_invalid_prices_file_is_logged_and_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_prices(tmp_path / "prices.json", {"gpt-4o-mini": {"input_per_mtok": 1}})
    monkeypatch.setenv("TRACELAKE_PRICES_FILE", str(path))
    usage = TokenUsage(1000, 100, 1100)

    with caplog.at_level(logging.ERROR):
        cost = compute_cost(usage, "gpt-4o-mini", "openai", T0_NS)

    assert as_tuple(cost) == approx(library_cost("gpt-4o-mini", 1000, 100))  # genai-prices still prices it
    assert "output_per_mtok" in caplog.text
    assert "TRACELAKE_PRICES_FILE" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"prices": {}}', '"models"'),
        ('{"models": {"m": 3}}', "must be an object"),
        ('{"models": {"m": {"input_per_mtok": 1, "output_per_mtok": 1, "extra": 1}}}', "unknown keys"),
        ('{"models": {"m": {"input_per_mtok": "cheap", "output_per_mtok": 1}}}', "input_per_mtok='cheap'"),
    ],
)
def test_prices_file_errors_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)

    with pytest.raises(PricesFileError, match=message):
        load_prices_file(path)
    with pytest.raises(PricesFileError, match="cannot read"):
        load_prices_file(tmp_path / "missing.json")


def test_model_price_arithmetic() -> None:
    price = ModelPrice(input_per_mtok=2.5, output_per_mtok=10.0, cached_input_per_mtok=1.25)

    cost = price.cost(TokenUsage(input_tokens=1000, output_tokens=100, total_tokens=1100, cached_input_tokens=2000))

    # More cached than input tokens (a confused source) is capped at the input tokens.
    assert as_tuple(cost) == approx(Cost(0.00125, 0.001, 0.00225))
