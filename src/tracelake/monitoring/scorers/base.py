"""Scorers: the base class, what a scorer sees of a trace, and `@scorer` for plain Python functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, overload

from tracelake.model import AssessmentSourceType, Trace
from tracelake.monitoring.scorers.feedback import Feedback, to_feedbacks

if TYPE_CHECKING:
    from tracelake.monitoring.scorers.registry import ScorerRegistration
    from tracelake.store import TraceStore

__all__ = ["CodeScorer", "Scorer", "ScoringContext", "scorer"]

#: The arguments a `@scorer` function may take, by name.
SCORER_ARGUMENTS = ("inputs", "outputs", "expectations", "trace")


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """What a scorer judges: one complete trace, its expectations and, for session scorers, its session.

    Attributes:
        trace: the trace with all its spans.
        expectations: the trace's expectation assessments, name → value (the newest wins).
        session: for session-level scorers, every trace of the session, oldest first (this one last).
    """

    trace: Trace
    expectations: Mapping[str, Any] = field(default_factory=dict)
    session: Sequence[Trace] = ()

    @property
    def inputs(self) -> Any:
        """The root span's inputs: the request."""
        return self.trace.data.request

    @property
    def outputs(self) -> Any:
        """The root span's outputs: the response."""
        return self.trace.data.response


class Scorer:
    """Something that judges a trace and returns Feedback.

    Subclasses set `source_type` (LLM_JUDGE or CODE), implement `score`, and describe themselves
    with `definition()` so a worker process can rebuild them (`tracelake.monitoring.load_scorer`).
    `score` may raise: the worker turns any exception into an error assessment.
    """

    kind: ClassVar[str] = "code"
    source_type: ClassVar[AssessmentSourceType] = AssessmentSourceType.CODE
    session_level: ClassVar[bool] = False
    uses_judge: ClassVar[bool] = False
    needs_expectations: bool = False
    """Whether `score` reads the trace's expectations (the worker loads them only then)."""

    def __init__(self, name: str) -> None:
        if not name or len(name) > 250:
            raise ValueError(f"a scorer name must have 1 to 250 characters, not {name!r}")
        self.name = name

    def score(self, context: ScoringContext) -> list[Feedback]:
        """Judge one trace; return its Feedbacks (possibly empty)."""
        raise NotImplementedError

    def definition(self) -> dict[str, Any]:
        """Return the JSON description the worker rebuilds this scorer from."""
        raise NotImplementedError

    def register(
        self,
        experiment: str,
        sample_rate: float = 1.0,
        filter_string: str | None = None,
        *,
        max_calls_per_hour: int | None = None,
        max_cost_per_hour: float | None = None,
        store: TraceStore | None = None,
    ) -> ScorerRegistration:
        """Register this scorer on an experiment, so `tracelake monitor` judges its new traces.

        Registering again under the same name updates the registration; a changed definition
        (prompt, guidelines, model, code) makes a new version, which judges traces again.

        Args:
            experiment: the experiment's name (created if missing).
            sample_rate: fraction of matching traces judged, decided by the trace id (0.0 to 1.0).
            filter_string: only traces matching this filter (the search grammar), e.g.
                ``"metadata.environment = 'production'"``.
            max_calls_per_hour: at most this many traces judged in any rolling hour.
            max_cost_per_hour: stop judging for the hour once the judge calls cost this many USD.
            store: where to register; defaults to the configured tracking store.

        Returns:
            The stored registration.
        """
        from tracelake.monitoring.scorers import registry

        return registry.register_scorer(
            self,
            experiment,
            sample_rate=sample_rate,
            filter_string=filter_string,
            max_calls_per_hour=max_calls_per_hour,
            max_cost_per_hour=max_cost_per_hour,
            store=store,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class CodeScorer(Scorer):
    """A plain Python function used as a scorer (see `scorer`)."""

    def __init__(self, function: Callable[..., Any], name: str | None = None, reference: str | None = None) -> None:
        super().__init__(name or function.__name__)
        self.function = function
        parameters = inspect.signature(function).parameters
        unknown = [p for p in parameters if p not in SCORER_ARGUMENTS]
        if unknown:
            raise TypeError(
                f"scorer {self.name!r} takes {', '.join(map(repr, unknown))}; a scorer may take only "
                + ", ".join(SCORER_ARGUMENTS)
            )
        # Decided once, at decoration: which arguments to build per call.
        self.arguments = tuple(parameters)
        self.needs_expectations = "expectations" in self.arguments
        self.reference = reference
        """`module:function` or a stored source (set when loaded by a worker); None: derived at registration."""

    def __call__(self, **kwargs: Any) -> Any:
        """Call the function directly, e.g. in a unit test of the scorer."""
        return self.function(**kwargs)

    def score(self, context: ScoringContext) -> list[Feedback]:
        values = {
            "inputs": context.inputs if "inputs" in self.arguments else None,
            "outputs": context.outputs if "outputs" in self.arguments else None,
            "expectations": dict(context.expectations) if "expectations" in self.arguments else None,
            "trace": context.trace,
        }
        return to_feedbacks(self.function(**{name: values[name] for name in self.arguments}), self.name)

    def definition(self) -> dict[str, Any]:
        from tracelake.monitoring.scorers.definitions import code_definition

        return code_definition(self)


@overload
def scorer(function: Callable[..., Any], /) -> CodeScorer: ...
@overload
def scorer(*, name: str | None = None) -> Callable[[Callable[..., Any]], CodeScorer]: ...
def scorer(
    function: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> CodeScorer | Callable[[Callable[..., Any]], CodeScorer]:
    """Turn a function into a scorer. Use as `@scorer` or `@scorer(name="...")`.

    The function may take any of `inputs` (the root span's inputs), `outputs` (its outputs),
    `expectations` (a dict of the trace's expectations) and `trace` (the whole `Trace`), by name,
    and returns a bool, a number, a string, a `Feedback`, a list of Feedbacks, or None to skip.

    Raises:
        TypeError: if the function takes other arguments.
    """
    if function is not None:
        return CodeScorer(function)

    def decorate(inner: Callable[..., Any]) -> CodeScorer:
        return CodeScorer(inner, name=name)

    return decorate
