"""`tracelake traces recompute-cost`: price an experiment's stored LLM spans again."""

from __future__ import annotations

import argparse
import os
import time

import tracelake
from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_OK, CliError
from tracelake.ingest.prices import PRICES_FILE_ENV, PricesFileError, load_prices_file


def recompute(args: argparse.Namespace) -> int:
    """Reprice with today's prices: genai-prices plus the prices file; print what changed."""
    prices_file = args.prices_file or os.environ.get(PRICES_FILE_ENV)
    if prices_file:
        try:
            count = load_prices_file(prices_file)  # fail here, clearly, rather than ignore the file
        except PricesFileError as exc:
            raise CliError(str(exc)) from None
        # Ingest reads the file through the environment, as the server does.
        os.environ[PRICES_FILE_ENV] = prices_file
        print(f"Prices file {prices_file}: {count} price(s).")
    _sdk.configure(args)
    experiment_id = _sdk.experiment_id(args.experiment) if args.experiment else args.experiment_id
    since_ms = None if args.since is None else int(time.time() * 1000) - args.since
    result = tracelake.recompute_costs(experiment_id, since_ms=since_ms)
    print(
        f"Checked {result['traces_checked']} trace(s) with LLM usage: "
        f"{result['spans_changed']} span cost(s) changed in {result['traces_changed']} trace(s)."
    )
    retry = result.get("retry_trace_ids") or []
    if retry:
        print(f"{len(retry)} trace(s) changed while being repriced; run the command again for them.")
    return EXIT_OK
