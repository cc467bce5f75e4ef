from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price

from tracelake.ingest import compute_cost, normalize_usage
from tracelake.model import TokenUsage

from .records import T0


def test_normalize_usage_fills_total_and_reads_strings() -> None:
    assert normalize_usage("10", 5.0) == TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15)
    assert normalize_usage(10, 5, 20, 4, 2) == TokenUsage(10, 5, 20, 4, 2)
    assert normalize_usage(output_tokens=3) == TokenUsage(output_tokens=3, total_tokens=3)


@pytest.mark.parametrize("bad", [None, "abc", -1, True, [1]])
def test_normalize_usage_ignores_unreadable_counts(bad: object) -> None:
    assert normalize_usage(bad, bad, bad) is None


def test_cost_of_a_known_model() -> None:
    cost = compute_cost(TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000), "gpt-4o-mini", "openai", T0)
    assert cost is not None
    assert cost.input_cost == pytest.approx(0.15)
    assert cost.output_cost == pytest.approx(0.60)
    assert cost.total_cost == pytest.approx(0.75)


def test_cached_tokens_are_priced_at_the_cache_read_rate() -> None:
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=0, cached_input_tokens=400_000)
    # Twice: the first call goes through genai-prices, the second through the memoised rates.
    for _ in range(2):
        cost = compute_cost(usage, "gpt-4o-mini", "openai", T0)
        assert cost is not None
        assert cost.input_cost == pytest.approx(0.6 * 0.15 + 0.4 * 0.075)


def test_fast_path_agrees_with_the_library_for_many_counts() -> None:
    when = datetime.fromtimestamp(T0 / 1e9, tz=timezone.utc)
    for model, provider in [("gpt-4o", "openai"), ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-pro", "google")]:
        for input_tokens, output_tokens, cached in [(10, 5, 0), (1234, 567, 200), (250_000, 10, 0), (199_999, 1, 5)]:
            usage = TokenUsage(input_tokens, output_tokens, input_tokens + output_tokens, cached)
            cost = compute_cost(usage, model, provider, T0)
            extra = {"cache_read_tokens": cached} if cached else {}
            exact = calc_price(
                Usage(input_tokens=input_tokens, output_tokens=output_tokens, **extra),
                model_ref=model,
                provider_id=provider,
                genai_request_timestamp=when,
            )
            assert cost is not None
            assert cost.total_cost == pytest.approx(float(exact.total_price), rel=1e-9)


def test_unknown_model_has_no_cost() -> None:
    usage = TokenUsage(input_tokens=10, output_tokens=5)
    assert compute_cost(usage, "my-private-finetune-v3") is None
    assert compute_cost(usage, "my-private-finetune-v3", "openai") is None
    assert compute_cost(usage, "") is None


def test_unknown_provider_falls_back_to_the_model_name() -> None:
    cost = compute_cost(TokenUsage(input_tokens=1_000_000), "gpt-4o-mini", "my-gateway", T0)
    assert cost is not None
    assert cost.input_cost == pytest.approx(0.15)


def test_no_tokens_no_cost() -> None:
    assert compute_cost(TokenUsage(), "gpt-4o-mini", "openai") is None


def test_importing_ingest_does_not_import_genai_prices() -> None:
    code = "import sys, tracelake.ingest; print('genai_prices' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(("day", "input_per_mtok"), [("2026-10-17", 0.0805), ("2026-10-18", 0.14)])
def test_a_price_that_changes_over_time_is_read_as_of_the_span(day: str, input_per_mtok: float) -> None:
    # The one price of most models is read without the span's time; this one has a dated change.
    timestamp_ns = int(datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()) * 1_000_000_000
    usage = TokenUsage(input_tokens=1_000_000)
    # Twice: the first call goes through genai-prices, the second through the memoised rates.
    for _ in range(2):
        cost = compute_cost(usage, "deepseek/deepseek-v4-flash", "avian", timestamp_ns)
        assert cost is not None
        assert cost.input_cost == pytest.approx(input_per_mtok)


def test_a_time_outside_datetimes_range_still_fails() -> None:
    usage = TokenUsage(input_tokens=10, output_tokens=5)
    compute_cost(usage, "gpt-4o-mini", "openai", T0)  # memoised: the datetime is not needed any more
    with pytest.raises(OverflowError):
        compute_cost(usage, "gpt-4o-mini", "openai", 10**30)
    assert compute_cost(usage, "gpt-4o-mini", "openai", 2**64 - 1) == compute_cost(usage, "gpt-4o-mini", "openai")
