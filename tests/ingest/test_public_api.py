from __future__ import annotations

import types

import tracelake.ingest


def test_all_is_sorted_and_complete() -> None:
    exported = tracelake.ingest.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(tracelake.ingest).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(exported)
