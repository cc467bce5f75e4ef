from __future__ import annotations

import importlib
import types

import pytest

import tracelake.query

MODULES = ["compile", "fields", "grammar", "lexer", "nodes", "order", "pagination", "patterns", "search"]


def test_package_all_is_sorted_and_complete() -> None:
    exported = tracelake.query.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(tracelake.query).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(exported)
    assert {"SearchPage", "compile_filter", "parse_filter", "search_traces"} <= public


@pytest.mark.parametrize("name", MODULES)
def test_module_all_is_sorted_and_defined_here(name: str) -> None:
    module = importlib.import_module(f"tracelake.query.{name}")
    exported = module.__all__
    assert exported == sorted(exported)
    for attribute in exported:
        value = getattr(module, attribute)
        assert getattr(value, "__module__", module.__name__) in (module.__name__, "typing", "types"), attribute
