"""The scorers job of `tracelake monitor`: judge new complete traces, retry failures, keep budgets.

Per active registration and tick: take due retries, then select complete traces this scorer
version has not seen (oldest first, through the filter), sample them by trace id, claim them in
`scorer_runs`, and run the scorer on a thread pool (`concurrency` calls in flight). Each outcome
is an assessment: the value, or an error that is retried with exponential backoff until
`max_attempts`. Nothing here raises into the worker loop for one bad scorer or trace.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tracelake import _config
from tracelake.exceptions import NotFoundError
from tracelake.model import TraceInfo
from tracelake.monitoring.scorers import runs
from tracelake.monitoring.scorers.base import Scorer, ScoringContext
from tracelake.monitoring.scorers.definitions import ScorerLoadError, load_scorer
from tracelake.monitoring.scorers.execution import (
    build_assessments,
    call_with_time_limit,
    in_sample,
    load_contexts,
)
from tracelake.monitoring.scorers.feedback import Feedback
from tracelake.monitoring.scorers.judge_client import JudgeCall, JudgeClient, JudgeConfig, JudgeError
from tracelake.monitoring.scorers.judge_traces import JudgeTraceRecorder, judge_experiment_name
from tracelake.monitoring.scorers.judges import LLMJudge, MissingInputError
from tracelake.monitoring.scorers.parsing import JudgeAnswerError
from tracelake.monitoring.scorers.registry import ScorerRegistration, active_registrations
from tracelake.monitoring.scorers.runs import RunClaim, RunOutcome
from tracelake.store import SqlTraceStore

__all__ = ["BatchResult", "ScorerJob", "ScorerSettings"]

logger = logging.getLogger("tracelake.monitoring.scorers")


@dataclass(frozen=True, slots=True)
class ScorerSettings:
    """How the scorers job works.

    Attributes:
        concurrency: scorer calls (judge requests) in flight at once.
        batch_size: traces taken per scorer per tick.
        time_limit_s: longest a code scorer may run on one trace.
        lease_s: how long a claimed trace stays with this worker before another may take it over.
        max_attempts: attempts per trace before a failure is final.
        backoff_s: delay before the first retry; doubled each time up to `max_backoff_s`.
        max_backoff_s: the longest delay between attempts.
        session_idle_s: a session is judged once its newest trace is this old.
        judge_experiment: experiment of the judge calls' traces; default `<experiment>-judges`.
    """

    concurrency: int = 8
    batch_size: int = 200
    time_limit_s: float = 30.0
    lease_s: float = 600.0
    max_attempts: int = 4
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    session_idle_s: float = 900.0
    judge_experiment: str | None = None

    @classmethod
    def from_env(cls) -> ScorerSettings:
        """Settings with `TRACELAKE_SCORER_CONCURRENCY` and `TRACELAKE_JUDGE_EXPERIMENT` applied."""
        env = _config.environ()
        return cls(
            concurrency=_config.SCORER_CONCURRENCY.resolve(None, env),
            judge_experiment=_config.JUDGE_EXPERIMENT.resolve(None, env),
        )


@dataclass(slots=True)
class BatchResult:
    """What one pass of one scorer did."""

    selected: int = 0
    claimed: int = 0
    done: int = 0
    errors: int = 0
    skipped: int = 0
    budget_exhausted: bool = False


@dataclass(slots=True)
class JobStats:
    """Counters across the job's life (for status and benchmarks)."""

    judge_calls: int = 0
    max_in_flight: int = 0
    in_flight: int = 0
    load_errors: dict[str, str] = field(default_factory=dict)


class ScorerJob:
    """Runs registered scorers; one per worker process. Thread contract: `run_due` from one thread."""

    name = "scorers"

    def __init__(
        self,
        store: SqlTraceStore,
        settings: ScorerSettings | None = None,
        judge: JudgeClient | None = None,
        experiment_ids: list[str] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or ScorerSettings.from_env()
        self._judge = judge
        self.experiment_ids = experiment_ids
        self.stats = JobStats()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="tracelake-scorer")
        self._scorers: dict[tuple[str, int], Scorer] = {}
        self._experiment_names: dict[str, str] = {}
        self._recorder = JudgeTraceRecorder(store)

    # The loop ------------------------------------------------------------------------------------
    def run_due(self, now_ms: int) -> None:
        """Give every active registration one batch of due retries and new traces."""
        for registration in active_registrations(self.store, self.experiment_ids):
            try:
                self.score_batch(registration, now_ms)
            except Exception:
                logger.exception(
                    "scorer %r of experiment %s failed this tick", registration.name, registration.experiment_id
                )

    def score_batch(self, registration: ScorerRegistration, now_ms: int, since_ms: int | None = None) -> BatchResult:
        """Run one batch of a scorer: due retries, then new traces from `since_ms` (default: its version's start).

        Returns:
            What was done; `budget_exhausted` when the hour's budget stopped it.
        """
        result = BatchResult()
        scorer = self._load(registration)
        if scorer is None:
            return result
        limit, cost_so_far = self._budget_left(registration, now_ms)
        if limit <= 0:
            result.budget_exhausted = True
            return result
        engine, settings = self.store.engine, self.settings
        lease_ms = int(settings.lease_s * 1000)
        claims = runs.claim_due(
            engine, registration.scorer_id, registration.version, now_ms, lease_ms, min(limit, settings.batch_size)
        )
        room = min(limit, settings.batch_size) - len(claims)
        if room > 0:
            idle = now_ms - int(settings.session_idle_s * 1000) if scorer.session_level else None
            candidates = runs.select_candidates(
                engine,
                scorer_id=registration.scorer_id,
                version=registration.version,
                experiment_id=registration.experiment_id,
                filter_string=registration.filter_string,
                since_ms=registration.version_time if since_ms is None else since_ms,
                limit=settings.batch_size,
                session_idle_before_ms=idle,
            )
            result.selected = len(candidates)
            sampled = [t for t in candidates if in_sample(t, registration.sample_rate)]
            chosen = set(sampled)
            skipped = [t for t in candidates if t not in chosen]
            # Sampled traces beyond the budget stay unclaimed: a later tick takes them.
            taken = runs.claim_new(
                engine, registration.scorer_id, registration.version, sampled[:room], skipped, now_ms, lease_ms
            )
            claims += [RunClaim(trace_id, 0, None) for trace_id in taken]
            result.skipped += len(skipped)
            if len(sampled) > room:
                result.budget_exhausted = limit < settings.batch_size
        result.claimed = len(claims)
        self._run_claims(registration, scorer, claims, now_ms, result, cost_so_far)
        return result

    # Internals -----------------------------------------------------------------------------------
    def _load(self, registration: ScorerRegistration) -> Scorer | None:
        key = (registration.scorer_id, registration.version)
        scorer = self._scorers.get(key)
        if scorer is not None:
            return scorer
        try:
            scorer = load_scorer(registration.kind, registration.definition)
        except ScorerLoadError as exc:
            if self.stats.load_errors.get(registration.scorer_id) != str(exc):
                logger.error("cannot load scorer %r: %s", registration.name, exc)
            self.stats.load_errors[registration.scorer_id] = str(exc)
            return None
        self.stats.load_errors.pop(registration.scorer_id, None)
        self._scorers[key] = scorer
        return scorer

    def _budget_left(self, registration: ScorerRegistration, now_ms: int) -> tuple[int, float]:
        """Return (traces this scorer may still judge this hour, USD it spent this hour)."""
        if registration.max_calls_per_hour is None and registration.max_cost_per_hour is None:
            return self.settings.batch_size, 0.0
        calls, cost = runs.hour_usage(self.store.engine, registration.scorer_id, now_ms)
        if registration.max_cost_per_hour is not None and cost >= registration.max_cost_per_hour:
            return 0, cost
        if registration.max_calls_per_hour is None:
            return self.settings.batch_size, cost
        return registration.max_calls_per_hour - calls, cost

    def _judge_client(self) -> JudgeClient:
        with self._lock:
            if self._judge is None:
                self._judge = JudgeClient(JudgeConfig.from_env())
            return self._judge

    def _judge_experiment(self, registration: ScorerRegistration) -> str:
        name = self._experiment_names.get(registration.experiment_id)
        if name is None:
            name = self.store.get_experiment(registration.experiment_id).name
            self._experiment_names[registration.experiment_id] = name
        return judge_experiment_name(name, self.settings.judge_experiment)

    def _run_claims(
        self,
        registration: ScorerRegistration,
        scorer: Scorer,
        claims: list[RunClaim],
        now_ms: int,
        result: BatchResult,
        cost_so_far: float,
    ) -> None:
        if not claims:
            return
        contexts = load_contexts(self.store, scorer, [claim.trace_id for claim in claims])
        spent = [cost_so_far]  # the hour's spending, as calls of this batch add to it

        def attempt(claim: RunClaim) -> RunOutcome:
            return self._attempt(registration, scorer, claim, contexts.get(claim.trace_id), now_ms, spent)

        outcomes = list(self._pool.map(attempt, claims))
        # One transaction for the batch's run records: per-trace commits would dominate on SQLite.
        runs.finish_runs(self.store.engine, registration.scorer_id, registration.version, outcomes, now_ms)
        for outcome in outcomes:
            if outcome.status == runs.DONE:
                result.done += 1
            elif outcome.status == runs.SKIPPED:
                result.skipped += 1
            else:
                result.errors += 1

    def _call(
        self, registration: ScorerRegistration, scorer: Scorer, context: ScoringContext, cost: list[float]
    ) -> tuple[list[Feedback], dict[str, str]]:
        """Run the scorer once; `cost` receives what a judge call cost, even when reading its answer fails."""
        metadata = {"scorer_id": registration.scorer_id, "scorer_version": str(registration.version)}
        if not isinstance(scorer, LLMJudge):
            feedbacks = call_with_time_limit(lambda: scorer.score(context), self.settings.time_limit_s, scorer.name)
            return feedbacks, metadata
        experiment = self._judge_experiment(registration)

        def on_call(call: JudgeCall) -> None:
            judge_trace_id, cost[0] = self._recorder.record(call, experiment, scorer.name, context.trace.info.trace_id)
            metadata["judge_trace_id"] = judge_trace_id

        with self._lock:
            self.stats.in_flight += 1
            self.stats.judge_calls += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            return scorer.judge(context, self._judge_client(), on_call), metadata
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    def _attempt(
        self,
        registration: ScorerRegistration,
        scorer: Scorer,
        claim: RunClaim,
        context: ScoringContext | None,
        now_ms: int,
        spent: list[float],
    ) -> RunOutcome:
        trace_id = claim.trace_id

        def finish(**outcome: Any) -> RunOutcome:
            return RunOutcome(trace_id, **outcome)

        if context is None:
            return finish(status=runs.SKIPPED, attempts=claim.attempts, error="trace deleted before scoring")
        if (
            registration.max_cost_per_hour is not None
            and scorer.uses_judge
            and spent[0] >= registration.max_cost_per_hour
        ):
            # Put it back, not counted as an attempt: a later hour judges it.
            return finish(
                status=runs.ERROR, attempts=claim.attempts, error="budget reached", next_attempt_ms=now_ms + 60_000
            )
        attempts = claim.attempts + 1
        box = [0.0]
        try:
            feedbacks, metadata = self._call(registration, scorer, context, box)
        except MissingInputError as exc:
            return finish(status=runs.SKIPPED, attempts=attempts, error=str(exc))
        except Exception as exc:
            spent[0] += box[0]
            return self._failed(registration, scorer, claim, context.trace.info, exc, attempts, now_ms, box[0])
        cost = box[0]
        spent[0] += cost
        try:
            stored = self._replace(claim, context.trace.info, scorer, feedbacks, metadata, now_ms)
        except NotFoundError:
            return finish(status=runs.SKIPPED, attempts=attempts, cost=cost, error="trace deleted before scoring")
        return finish(status=runs.DONE, attempts=attempts, cost=cost, assessment_id=stored)

    def _replace(
        self,
        claim: RunClaim,
        info: TraceInfo,
        scorer: Scorer,
        feedbacks: list[Feedback],
        metadata: dict[str, str],
        now_ms: int,
    ) -> str | None:
        # A retry replaces the error assessment an earlier attempt left.
        if claim.assessment_id is not None:
            with contextlib.suppress(NotFoundError):
                self.store.delete_assessment(info.trace_id, claim.assessment_id)
        first: str | None = None
        for assessment in build_assessments(info, scorer, feedbacks, metadata, now_ms):
            stored = self.store.add_assessment(assessment)
            first = first or stored.assessment_id
        return first

    def _failed(
        self,
        registration: ScorerRegistration,
        scorer: Scorer,
        claim: RunClaim,
        info: TraceInfo,
        exc: Exception,
        attempts: int,
        now_ms: int,
        cost: float,
    ) -> RunOutcome:
        code = _error_code(exc)
        message = f"{type(exc).__name__}: {exc}" if code == "SCORER_ERROR" else str(exc)
        final = attempts >= self.settings.max_attempts
        delay = min(self.settings.backoff_s * 2 ** (attempts - 1), self.settings.max_backoff_s)
        next_ms = None if final else now_ms + int(delay * 1000)
        logger.warning(
            "scorer %r failed on trace %s (attempt %d of %d): %s",
            registration.name,
            info.trace_id,
            attempts,
            self.settings.max_attempts,
            message,
        )
        metadata = {
            "scorer_id": registration.scorer_id,
            "scorer_version": str(registration.version),
            "attempts": str(attempts),
        }
        feedback = Feedback.failure(code, message, scorer.name)
        try:
            stored = self._replace(claim, info, scorer, [feedback], metadata, now_ms)
        except NotFoundError:
            return RunOutcome(info.trace_id, runs.SKIPPED, attempts, cost=cost, error="trace deleted before scoring")
        status = runs.FAILED if final else runs.ERROR
        return RunOutcome(info.trace_id, status, attempts, stored, cost, message, next_ms)

    def close(self) -> None:
        """Stop the thread pool and close the judge client."""
        self._pool.shutdown(wait=True)
        if self._judge is not None:
            self._judge.close()


def _error_code(exc: Exception) -> str:
    from tracelake.monitoring.scorers.execution import ScorerTimeoutError

    if isinstance(exc, JudgeError):
        return exc.code
    if isinstance(exc, JudgeAnswerError):
        return "JUDGE_ANSWER_INVALID"
    if isinstance(exc, ScorerTimeoutError):
        return "SCORER_TIMEOUT"
    return "SCORER_ERROR"


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch (the worker's clock; tests pass their own `now_ms`)."""
    return time.time_ns() // 1_000_000


Clock = Callable[[], int]
