"""Rich renderings of traces for the terminal: the search table, a trace's summary and its span tree.

Trace content (names, previews, error messages) is user data, so it is always wrapped in `Text`
and never parsed as rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tracelake.model import EXCEPTION_EVENT, EXCEPTION_MESSAGE, EXCEPTION_TYPE, Cost, Span, TokenUsage, Trace, TraceInfo

_STATE_STYLES = {"OK": "green", "ERROR": "bold red", "IN_PROGRESS": "yellow", "UNSET": "dim"}


def format_time(ms: int) -> str:
    """Render a Unix time in milliseconds as local date and time."""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(ms: float | None) -> str:
    """Render milliseconds as `840 ms`, `1.25 s` or `3m 05s`; None (still running) as `…`."""
    if ms is None:
        return "…"
    if ms < 1:
        # Whole milliseconds (trace durations) below one are "<1 ms"; span durations keep decimals.
        return "<1 ms" if isinstance(ms, int) else f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def format_tokens(usage: TokenUsage | None) -> str:
    return "" if usage is None else f"{usage.total_tokens:,}"


def format_cost(cost: Cost | None) -> str:
    """Render dollars with enough digits that a single cheap call does not show as $0.00."""
    if cost is None:
        return ""
    return f"${cost.total_cost:.6f}" if cost.total_cost < 0.01 else f"${cost.total_cost:.4f}"


def state_text(state: str) -> Text:
    return Text(state, style=_STATE_STYLES.get(state, ""))


# Columns of the traces table, in display order. The number is the drop order when the terminal is
# too narrow (1 goes first); 0 is never dropped. Request and response share whatever width is left.
_COLUMNS: tuple[tuple[str, int], ...] = (
    ("trace id", 0),
    ("time", 5),
    ("name", 4),
    ("state", 0),
    ("duration", 0),
    ("request", 0),
    ("response", 7),
    ("tokens", 6),
    ("cost", 3),
    ("session", 2),
    ("user", 1),
)
_PREVIEWS = frozenset({"request", "response"})
_RIGHT = frozenset({"duration", "tokens", "cost"})
_MIN_PREVIEW, _MAX_PREVIEW = 16, 60


def _cells(info: TraceInfo) -> dict[str, Text]:
    return {
        "trace id": Text(info.trace_id, style="cyan"),
        "time": Text(format_time(info.request_time)),
        "name": Text(info.name or ""),
        "state": state_text(info.state.value),
        "duration": Text(format_duration(info.execution_duration)),
        "request": Text(_single_line(info.request_preview)),
        "response": Text(_single_line(info.response_preview)),
        "tokens": Text(format_tokens(info.token_usage)),
        "cost": Text(format_cost(info.cost)),
        "session": Text(info.session_id or ""),
        "user": Text(info.user_id or ""),
    }


def _overhead(columns: int) -> int:
    # One space of padding each side of every cell, one separator between columns, no edges.
    return 3 * columns - 1


def _fit_columns(rows: list[dict[str, Text]], width: int) -> tuple[list[str], int]:
    """Choose the columns that fit in `width` and the width of each preview column.

    Rich would squeeze every column evenly, cutting trace ids that users must copy whole; instead
    the least useful columns are dropped and the previews take the rest.
    """
    natural = {name: max([len(name), *(row[name].cell_len for row in rows)]) for name, _ in _COLUMNS}
    shown = [name for name, _ in _COLUMNS]
    for name, _ in sorted((c for c in _COLUMNS if c[1]), key=lambda c: c[1]):
        previews = [n for n in shown if n in _PREVIEWS]
        fixed = sum(natural[n] for n in shown if n not in _PREVIEWS)
        if fixed + _overhead(len(shown)) + _MIN_PREVIEW * len(previews) <= width:
            break
        shown.remove(name)
    previews = [n for n in shown if n in _PREVIEWS]
    room = width - sum(natural[n] for n in shown if n not in _PREVIEWS) - _overhead(len(shown))
    return shown, max(_MIN_PREVIEW, min(_MAX_PREVIEW, room // max(len(previews), 1)))


def traces_table(infos: Sequence[TraceInfo], width: int, title: Text | None = None) -> Table:
    """Return the table `traces search` and `quickstart` print: one line per trace.

    Args:
        infos: the traces to show, in order.
        width: the console width; narrow terminals lose the least useful columns first.
        title: an optional caption above the table.
    """
    rows = [_cells(info) for info in infos]
    shown, preview = _fit_columns(rows, width)
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    for name in shown:
        justify: JustifyMethod = "right" if name in _RIGHT else "left"
        limit = preview if name in _PREVIEWS else None
        table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis", max_width=limit)
    for row in rows:
        table.add_row(*(row[name] for name in shown))
    return table


def trace_view(trace: Trace) -> RenderableType:
    """Return what `traces get` prints: the trace's summary, then its span tree."""
    return Group(_summary(trace.info), Text(""), span_tree(trace))


def _summary(info: TraceInfo) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows: list[tuple[str, str | Text | None]] = [
        ("trace id", info.trace_id),
        ("experiment", info.experiment_id),
        ("name", Text(info.name or "")),
        ("state", state_text(info.state.value)),
        ("started", format_time(info.request_time)),
        ("duration", format_duration(info.execution_duration)),
        ("request", Text(info.request_preview or "")),
        ("response", Text(info.response_preview or "")),
        ("tokens", _usage_detail(info.token_usage)),
        ("cost", format_cost(info.cost)),
        ("session", Text(info.session_id or "")),
        ("user", Text(info.user_id or "")),
        ("client request id", Text(info.client_request_id or "")),
        ("tags", Text(_pairs(info.tags))),
        ("metadata", Text(_pairs(info.metadata))),
        ("spans", str(info.span_count)),
    ]
    for label, value in rows:
        if value:
            grid.add_row(label, value)
    return grid


def span_tree(trace: Trace) -> Tree:
    """Return the spans as a tree: name, type, duration, status, model and tokens, errors."""
    spans = trace.data.spans
    known = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in sorted(spans, key=lambda s: s.start_time_ns):
        parent = span.parent_id if span.parent_id in known else None
        children.setdefault(parent, []).append(span)
    tree = Tree(Text(f"trace {trace.info.trace_id}", style="bold"), guide_style="dim")
    pending = [(tree, span) for span in children.get(None, [])]
    while pending:
        node, span = pending.pop(0)
        branch = node.add(_span_label(span))
        # Iterative depth-first walk: a deep agent loop cannot hit Python's recursion limit.
        pending[0:0] = [(branch, child) for child in children.get(span.span_id, [])]
    return tree


def _span_label(span: Span) -> Text:
    label = Text.assemble((span.name, "bold"), " ", (span.span_type, "magenta"), " ")
    duration = None if span.duration_ns is None else span.duration_ns / 1e6
    label.append(format_duration(duration))
    label.append(" ")
    label.append_text(state_text(span.status.code.value))
    if span.model_name:
        label.append(f" {span.model_name}", style="blue")
    if span.token_usage is not None:
        usage = span.token_usage
        label.append(f" {usage.input_tokens}→{usage.output_tokens} tokens", style="dim")
    for event in span.events:
        if event.name == EXCEPTION_EVENT:
            kind = event.attributes.get(EXCEPTION_TYPE, "Exception")
            label.append(f"\n{kind}: {event.attributes.get(EXCEPTION_MESSAGE, '')}", style="red")
    if span.status.message and not any(event.name == EXCEPTION_EVENT for event in span.events):
        label.append(f"\n{span.status.message}", style="red")
    return label


def _usage_detail(usage: TokenUsage | None) -> str:
    if usage is None:
        return ""
    return f"{usage.total_tokens:,} ({usage.input_tokens:,} in, {usage.output_tokens:,} out)"


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items()))


def _single_line(text: str | None) -> str:
    return "" if text is None else " ".join(text.split())


def trace_json(trace: Trace) -> str:
    """Return the whole trace as indented JSON (values that are not JSON become strings)."""
    return json.dumps(trace.to_dict(), indent=2, default=str, ensure_ascii=False)
