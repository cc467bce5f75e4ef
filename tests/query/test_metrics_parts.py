"""Long metrics ranges are read in bucket-aligned parts at once: the answer is the same as in one read."""

from __future__ import annotations

import itertools
import random

import pytest

from tracelake.query import METRICS, metrics, query_metrics
from tracelake.query.metrics import part_ranges

from .database import Db, EngineStore
from .test_metrics import HOUR, T0, add_spans, trace, usage

MINUTE = 60_000


@pytest.mark.parametrize(
    ("start", "end", "bucket", "parts"),
    [(0, 10, 1, 3), (5, 95, 10, 4), (7, 8, 10, 4), (0, 3 * HOUR, HOUR, 2), (T0 + 1, T0 + 5 * HOUR - 1, HOUR, 4)],
)
def test_parts_cover_the_range_at_bucket_boundaries(start: int, end: int, bucket: int, parts: int) -> None:
    ranges = part_ranges(start, end, bucket, parts)
    assert ranges[0][0] == start
    assert ranges[-1][1] == end
    assert all(a_end == b_start for (_, a_end), (b_start, _) in itertools.pairwise(ranges))
    assert all(low < high for low, high in ranges)
    assert all(high % bucket == 0 for _, high in ranges[:-1])
    assert len(ranges) == min(parts, (end - 1) // bucket - start // bucket + 1)


@pytest.mark.parametrize("group_by", [None, "tags.env", "model"])
def test_parts_give_the_answer_of_one_read(db: Db, monkeypatch: pytest.MonkeyPatch, group_by: str | None) -> None:
    generator = random.Random(5)
    rows = []
    for index in range(600):
        duration = None if generator.random() < 0.05 else int(generator.lognormvariate(5, 1.2))
        state = "IN_PROGRESS" if duration is None else generator.choice(["OK", "OK", "ERROR"])
        env = generator.choice(["prod", "staging"])
        rows.append(trace(f"{index:032x}", T0 + generator.randrange(5 * HOUR), duration, state, tags={"env": env}))
    db.add(*rows)
    for index in range(0, 600, 3):
        model = generator.choice(["gpt-4o", "claude"])
        llm = {"name": "chat", "type": "LLM", "ms": generator.randrange(1, 900), "model_name": model, **usage(5, 7)}
        add_spans(db, f"{index:032x}", 1, {"name": "root", "ms": 1_000}, llm)

    def answer(parts: int) -> object:
        monkeypatch.setattr(metrics, "PARTS", parts)
        monkeypatch.setattr(metrics, "MIN_PART_MS", MINUTE)
        store = EngineStore(db.engine)
        result = query_metrics(store, ["1"], T0 + 7, T0 + 5 * HOUR, 1800, METRICS, group_by=group_by)
        assert len(store.statements) == parts
        return result

    assert answer(3) == answer(1)
