"""`tracelake traces search | get | delete`: read and prune the traces of the configured store."""

from __future__ import annotations

import argparse
import json
import sys
import time

from rich.console import Console

import tracelake
from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_OK, EXIT_USAGE, CliError
from tracelake.cli._render import trace_json, trace_view, traces_table
from tracelake.exceptions import NotFoundError


def search(args: argparse.Namespace) -> int:
    """List the traces matching `--filter`, newest first unless `--order-by` says otherwise."""
    _sdk.configure(args)
    found = tracelake.search_traces(
        experiment_ids=_sdk.experiment_ids(args.experiment, args.experiment_id),
        filter_string=args.filter,
        order_by=args.order_by,
        max_results=args.max_results,
        page_token=args.page_token,
        include_spans=False,  # the table and JSON lines show summaries only
    )
    next_token: str | None = getattr(found, "next_page_token", None)
    if args.json:
        for trace in found:
            sys.stdout.write(json.dumps(trace.info.to_dict(), ensure_ascii=False) + "\n")
        if next_token:
            # stdout stays pure JSON lines; the token is for the human or script that asks again.
            print(f"next page: --page-token {next_token}", file=sys.stderr)
        return EXIT_OK
    console = Console()
    if not found:
        console.print("No traces found.")
        return EXIT_OK
    console.print(traces_table([trace.info for trace in found], console.width))
    if next_token:
        console.print(f"More traces: add --page-token {next_token}", style="dim", highlight=False, soft_wrap=True)
    return EXIT_OK


def get(args: argparse.Namespace) -> int:
    """Show one trace: its summary and span tree, or the whole trace as JSON."""
    _sdk.configure(args)
    try:
        trace = tracelake.get_trace(args.trace_id)
    except NotFoundError:
        trace = None
    if trace is None:
        raise CliError(f"no trace with id {args.trace_id!r}")
    if args.json:
        sys.stdout.write(trace_json(trace) + "\n")
    else:
        Console().print(trace_view(trace))
    return EXIT_OK


def delete(args: argparse.Namespace) -> int:
    """Delete traces of one experiment by id, by age or by timestamp, after confirmation."""
    _sdk.configure(args)
    experiment_id = _sdk.experiment_id(args.experiment) if args.experiment else args.experiment_id
    max_timestamp_ms = args.max_timestamp_ms
    if args.older_than is not None:
        max_timestamp_ms = int(time.time() * 1000) - args.older_than
    what = _describe(args, max_timestamp_ms)
    if not args.yes:
        _confirm(f"Delete {what} from experiment {args.experiment or experiment_id}?")
    deleted = tracelake.delete_traces(
        experiment_id, max_timestamp_ms=max_timestamp_ms, max_traces=args.max_traces, trace_ids=args.trace_id
    )
    print(f"Deleted {deleted} trace{'' if deleted == 1 else 's'}.")
    return EXIT_OK


def _describe(args: argparse.Namespace, max_timestamp_ms: int | None) -> str:
    limit = f"at most {args.max_traces} " if args.max_traces else ""
    if args.trace_id:
        return f"{limit}{len(args.trace_id)} trace(s) by id"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((max_timestamp_ms or 0) / 1000))
    return f"{limit or 'all '}traces started before {started}"


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise CliError("refusing to delete without confirmation: add --yes", EXIT_USAGE)
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in {"y", "yes"}:
        raise CliError("nothing deleted")
