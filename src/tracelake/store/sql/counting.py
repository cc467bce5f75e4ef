"""Which spans' token usage counts towards a trace's totals, over every span of the trace stored so far.

A span with usage counts unless one of its ancestors has usage too: an autologged LLM call inside
a user's LLM span reports the same tokens twice. Ingest decides this within each batch; but a
trace's spans can arrive in several batches (children end, and are exported, before their parents),
so the store decides it again over the stored spans plus the incoming ones, and recounts stored
spans whose ancestor with usage has only now arrived.
"""

from __future__ import annotations

from collections.abc import Mapping, Set


def counted_spans(parents: Mapping[str, str | None], with_usage: Set[str]) -> set[str]:
    """Return the spans of `with_usage` none of whose ancestors is in `with_usage`.

    Args:
        parents: parent id of every known span of the trace (None for a root).
        with_usage: ids of the spans that report token usage.
    """
    counted: set[str] = set()
    limit = len(parents)
    for span_id in with_usage:
        parent_id = parents.get(span_id)
        steps = 0
        # Malformed input may link parents in a cycle: `steps` bounds the walk.
        while parent_id is not None and parent_id != span_id and steps <= limit:
            if parent_id in with_usage:
                break
            parent_id = parents.get(parent_id)
            steps += 1
        else:
            counted.add(span_id)
    return counted
