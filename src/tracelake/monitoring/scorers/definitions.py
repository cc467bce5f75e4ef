"""A scorer as stored JSON, and back: how a worker process rebuilds what a user registered.

Three forms:

- a built-in judge: ``{"judge": "Guidelines", "name": "polite", "model": null, "guidelines": [...]}``;
- a code scorer importable by the worker: ``{"code": "my_package.scorers:concise", "name": "concise"}``;
- a code scorer defined in a script or notebook (module `__main__`, or nested in a function): its
  source is stored, ``{"source": "def concise(outputs): ...", "function": "concise", "name": ...}``.
  Such a function must be self-contained: it may use only builtins, `Feedback`, and what it
  imports inside its body.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from typing import Any

from tracelake.monitoring.scorers.base import CodeScorer, Scorer
from tracelake.monitoring.scorers.feedback import Feedback
from tracelake.monitoring.scorers.judges import BUILTIN_JUDGES

__all__ = ["ScorerLoadError", "code_definition", "load_scorer"]


class ScorerLoadError(Exception):
    """A stored scorer cannot be rebuilt (module not importable, function missing, bad definition)."""


def _importable(scorer: CodeScorer) -> str | None:
    function = scorer.function
    module, qualname = function.__module__, function.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        return None
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    if target is scorer or target is function:
        return f"{module}:{qualname}"
    return None


def _source(scorer: CodeScorer) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(scorer.function))
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"cannot register scorer {scorer.name!r}: its source is unavailable ({exc}); "
            "define it in an importable module and register it from there"
        ) from None
    lines = source.splitlines()
    # The decorators ran already (`@scorer` made this object); the stored function is the bare def.
    while lines and not lines[0].lstrip().startswith(("def ", "async def ")):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def code_definition(scorer: CodeScorer) -> dict[str, Any]:
    """Return the stored form of a code scorer: its import reference, or its source."""
    reference = scorer.reference or _importable(scorer)
    if reference is not None:
        return {"code": reference, "name": scorer.name}
    return {"source": _source(scorer), "function": scorer.function.__name__, "name": scorer.name}


def _from_reference(reference: str, name: str) -> CodeScorer:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ScorerLoadError(f"code scorer reference {reference!r} is not of the form 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise ScorerLoadError(f"cannot import module {module_name!r} of scorer {name!r}: {exc}") from None
    except AttributeError:
        raise ScorerLoadError(f"module {module_name!r} has no {attribute!r} (scorer {name!r})") from None
    function = target.function if isinstance(target, CodeScorer) else target
    if not callable(function):
        raise ScorerLoadError(f"{reference!r} is not a function (scorer {name!r})")
    return CodeScorer(function, name=name, reference=reference)


def _from_source(source: str, function_name: str, name: str) -> CodeScorer:
    namespace: dict[str, Any] = {"__name__": f"tracelake_scorer_{function_name}", "Feedback": Feedback}
    try:
        exec(compile(source, f"<scorer {name}>", "exec"), namespace)  # registered code, run by its owner's worker
    except Exception as exc:
        raise ScorerLoadError(
            f"the stored source of scorer {name!r} does not run: {type(exc).__name__}: {exc}"
        ) from None
    function = namespace.get(function_name)
    if not callable(function):
        raise ScorerLoadError(f"the stored source of scorer {name!r} defines no function {function_name!r}")
    return CodeScorer(function, name=name, reference=None)


def load_scorer(kind: str, definition: dict[str, Any]) -> Scorer:
    """Rebuild a scorer from its stored kind and definition.

    Raises:
        ScorerLoadError: naming what is wrong.
    """
    name = str(definition.get("name") or "")
    try:
        if kind == "builtin":
            cls = BUILTIN_JUDGES.get(str(definition.get("judge")))
            if cls is None:
                raise ScorerLoadError(f"unknown built-in judge {definition.get('judge')!r} (scorer {name!r})")
            arguments = {k: v for k, v in definition.items() if k not in ("judge",)}
            return cls(**arguments)
        if kind == "code":
            if "code" in definition:
                return _from_reference(str(definition["code"]), name)
            if "source" in definition:
                return _from_source(str(definition["source"]), str(definition.get("function")), name)
    except (TypeError, ValueError) as exc:
        raise ScorerLoadError(f"invalid definition of scorer {name!r}: {exc}") from None
    raise ScorerLoadError(f"invalid definition of scorer {name!r} (kind {kind!r})")


def kind_of(scorer: Scorer) -> str:
    """Return the stored kind: `builtin` for the judges here, `code` for functions."""
    return scorer.kind
