"""The worker's scorers job: complete traces only, once per version, sampling, retries, budgets."""

from __future__ import annotations

import pytest

from monitoring.scorers import sample_scorers
from monitoring.scorers.conftest import NOW_MS, REGISTERED_MS, agent_trace, feedback_of, make_job, write
from tracelake.model import AssessmentSourceType
from tracelake.monitoring import Guidelines
from tracelake.monitoring.scorers.execution import in_sample
from tracelake.monitoring.scorers.job import ScorerJob
from tracelake.monitoring.scorers.registry import get_scorer, register_scorer, set_scorer_state
from tracelake.monitoring.scorers.runs import claim_new, scorer_status
from tracelake.store import SqlTraceStore
from tracelake.testing.llm_stub import LLMStub


def register(store: SqlTraceStore, scorer: object, **options: object) -> object:
    return register_scorer(scorer, "support-agent", store=store, now_ms=REGISTERED_MS, **options)  # type: ignore[arg-type]


def test_scores_complete_traces_once_and_writes_code_assessments(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob
) -> None:
    register(store, sample_scorers.concise)
    done, open_ = write(store, experiment_id, agent_trace(1, answer="short"), agent_trace(2, finished=False))

    job.run_due(NOW_MS)
    job.run_due(NOW_MS + 1000)

    [assessment] = feedback_of(store, done, "concise")
    assert assessment.value is True
    assert assessment.source.source_type is AssessmentSourceType.CODE
    assert assessment.source.source_id == "concise"
    assert assessment.metadata["scorer_version"] == "1"
    assert feedback_of(store, open_, "concise") == []

    # The open trace completes later: the next tick judges it, once.
    store.write_batches(experiment_id, [agent_trace(2, answer="a much longer answer than twenty characters")])
    job.run_due(NOW_MS + 2000)
    job.run_due(NOW_MS + 3000)
    [late] = feedback_of(store, open_, "concise")
    assert late.value is False


def test_a_new_version_judges_again_and_old_traces_wait_for_backfill(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob
) -> None:
    old = write(store, experiment_id, agent_trace(1, start_ms=-5000))[0]  # before the registration
    register(store, sample_scorers.concise)
    new = write(store, experiment_id, agent_trace(2))[0]
    job.run_due(NOW_MS)
    assert feedback_of(store, old, "concise") == []
    assert len(feedback_of(store, new, "concise")) == 1

    # Same definition again: same version, nothing judged twice.
    assert register(store, sample_scorers.concise).version == 1  # type: ignore[attr-defined]
    job.run_due(NOW_MS + 1000)
    assert len(feedback_of(store, new, "concise")) == 1

    # A changed definition is a new version, which judges traces from its own registration on.
    changed = register_scorer(
        Guidelines(name="concise", guidelines=["Be brief."]), "support-agent", store=store, now_ms=REGISTERED_MS
    )
    assert changed.version == 2
    job.run_due(NOW_MS + 2000)
    versions = sorted(a.metadata["scorer_version"] for a in feedback_of(store, new, "concise"))
    assert versions == ["1", "2"]


def test_sampling_is_decided_by_trace_id(store: SqlTraceStore, experiment_id: str, job: ScorerJob) -> None:
    register(store, sample_scorers.concise, sample_rate=0.5)
    ids = write(store, experiment_id, *(agent_trace(n) for n in range(1, 41)))
    job.run_due(NOW_MS)
    judged = {t for t in ids if feedback_of(store, t, "concise")}
    assert judged == {t for t in ids if in_sample(t, 0.5)}
    assert 5 < len(judged) < 35
    registration = get_scorer("support-agent", "concise", store=store)
    status = scorer_status(store.engine, registration.scorer_id, 1, NOW_MS)
    assert status.counts == {"done": len(judged), "skipped": 40 - len(judged)}


def test_sampling_is_stable_and_nested() -> None:
    ids = [f"{n:032x}" for n in range(2000)]
    tenth = {t for t in ids if in_sample(t, 0.1)}
    fifth = {t for t in ids if in_sample(t, 0.2)}
    assert tenth <= fifth
    assert 150 < len(tenth) < 250
    assert tenth == {t for t in ids if in_sample(t, 0.1)}
    assert all(in_sample(t, 1.0) for t in ids) and not any(in_sample(t, 0.0) for t in ids)


def test_filter_and_stopped_scorers(store: SqlTraceStore, experiment_id: str, job: ScorerJob) -> None:
    register(store, sample_scorers.concise, filter_string="metadata.environment = 'production'")
    prod, dev = write(
        store,
        experiment_id,
        agent_trace(1, metadata={"environment": "production"}),
        agent_trace(2, metadata={"environment": "dev"}),
    )
    set_scorer_state("support-agent", "concise", "stopped", store=store)
    job.run_due(NOW_MS)
    assert feedback_of(store, prod, "concise") == []
    set_scorer_state("support-agent", "concise", "active", store=store)
    job.run_due(NOW_MS + 1)
    assert len(feedback_of(store, prod, "concise")) == 1
    assert feedback_of(store, dev, "concise") == []


def test_failures_are_error_assessments_retried_with_backoff(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob
) -> None:
    register(store, sample_scorers.flaky)
    [trace] = write(store, experiment_id, agent_trace(1))
    sample_scorers.FAILURES[trace] = 2
    try:
        job.run_due(NOW_MS)
        [error] = feedback_of(store, trace, "flaky")
        assert error.value is None
        assert error.error is not None and error.error.error_code == "SCORER_ERROR"
        assert "the flaky scorer failed" in error.error.error_message

        job.run_due(NOW_MS + 29_000)  # backoff 30 s: not yet
        assert sample_scorers.FAILURES[trace] == 1
        job.run_due(NOW_MS + 30_000)  # second attempt fails; the next waits 60 s
        assert sample_scorers.FAILURES[trace] == 0
        [error] = feedback_of(store, trace, "flaky")
        assert error.metadata["attempts"] == "2"
        job.run_due(NOW_MS + 30_000 + 59_000)
        assert feedback_of(store, trace, "flaky")[0].error is not None
        job.run_due(NOW_MS + 30_000 + 60_000)
        [fixed] = feedback_of(store, trace, "flaky")  # the error assessment was replaced
        assert fixed.value == "fine" and fixed.error is None
    finally:
        sample_scorers.FAILURES.clear()


def test_a_scorer_that_keeps_failing_gives_up(store: SqlTraceStore, experiment_id: str) -> None:
    job = make_job(store, max_attempts=2, backoff_s=1.0)
    try:
        registration = register(store, sample_scorers.breaks)
        [trace] = write(store, experiment_id, agent_trace(1))
        for tick in range(5):
            job.run_due(NOW_MS + tick * 10_000)
        [error] = feedback_of(store, trace, "breaks")
        assert error.error is not None and "ValueError: no good" in error.error.error_message
        status = scorer_status(store.engine, registration.scorer_id, 1, NOW_MS)  # type: ignore[attr-defined]
        assert status.counts == {"failed": 1}
        assert status.last_error == "ValueError: no good"
    finally:
        job.close()


def test_a_hanging_scorer_hits_its_time_limit_and_others_go_on(store: SqlTraceStore, experiment_id: str) -> None:
    job = make_job(store, time_limit_s=0.2)
    try:
        register(store, sample_scorers.hangs)
        register(store, sample_scorers.concise)
        [trace] = write(store, experiment_id, agent_trace(1, answer="ok"))
        job.run_due(NOW_MS)
        [hung] = feedback_of(store, trace, "hangs")
        assert hung.error is not None and hung.error.error_code == "SCORER_TIMEOUT"
        assert "0.2 s" in hung.error.error_message
        assert feedback_of(store, trace, "concise")[0].value is True
    finally:
        sample_scorers.RELEASE.set()
        job.close()


def test_call_budget_per_hour(store: SqlTraceStore, experiment_id: str, job: ScorerJob) -> None:
    register(store, sample_scorers.concise, max_calls_per_hour=3)
    ids = write(store, experiment_id, *(agent_trace(n) for n in range(1, 11)))
    job.run_due(NOW_MS)
    job.run_due(NOW_MS + 60_000)
    assert sum(bool(feedback_of(store, t, "concise")) for t in ids) == 3
    job.run_due(NOW_MS + 3_600_001)
    judged = [t for t in ids if feedback_of(store, t, "concise")]
    assert len(judged) == 6
    assert judged == ids[:6]  # oldest first


def test_cost_budget_stops_judge_calls(store: SqlTraceStore, experiment_id: str, job: ScorerJob, stub: LLMStub) -> None:
    register(store, Guidelines(name="polite", guidelines=["Be polite."]), max_cost_per_hour=1e-9)
    ids = write(store, experiment_id, *(agent_trace(n) for n in range(1, 6)))
    job.run_due(NOW_MS)
    job.run_due(NOW_MS + 1000)
    judged = [t for t in ids if feedback_of(store, t, "polite")]
    # Calls already in flight when the budget ran out finish; no new one starts afterwards.
    assert 1 <= len(judged) <= job.settings.concurrency
    calls = len(stub.requests)
    job.run_due(NOW_MS + 2000)
    assert len(stub.requests) == calls


def test_a_trace_deleted_before_scoring_is_skipped(store: SqlTraceStore, experiment_id: str, job: ScorerJob) -> None:
    registration = register(store, sample_scorers.concise)
    gone, kept = write(store, experiment_id, agent_trace(1), agent_trace(2))
    # Another worker claimed it, then died; meanwhile retention deleted the trace.
    claim_new(store.engine, registration.scorer_id, 1, [gone], [], NOW_MS - 700_000, 600_000)  # type: ignore[attr-defined]
    store.delete_traces(experiment_id, trace_ids=[gone])
    job.run_due(NOW_MS)
    assert len(feedback_of(store, kept, "concise")) == 1
    status = scorer_status(store.engine, registration.scorer_id, 1, NOW_MS)  # type: ignore[attr-defined]
    assert status.counts == {"done": 1, "skipped": 1}


def test_a_trace_deleted_while_being_scored(store: SqlTraceStore, experiment_id: str, job: ScorerJob) -> None:
    register(store, sample_scorers.deletes_its_trace)
    write(store, experiment_id, agent_trace(1))
    sample_scorers.ON_SCORE.append(lambda t: store.delete_traces(experiment_id, trace_ids=[t]))
    try:
        job.run_due(NOW_MS)
    finally:
        sample_scorers.ON_SCORE.clear()
    registration = get_scorer("support-agent", "deletes_its_trace", store=store)
    assert scorer_status(store.engine, registration.scorer_id, 1, NOW_MS).counts == {"skipped": 1}


def test_an_unloadable_scorer_does_not_stop_the_others(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob, caplog: pytest.LogCaptureFixture
) -> None:
    registration = register(store, sample_scorers.concise)
    # Someone registered a module the worker cannot import.
    from sqlalchemy import update

    from tracelake.store.sql.engine import write_transaction
    from tracelake.store.sql.schema import scorers

    with write_transaction(store.engine) as connection:
        connection.execute(
            update(scorers)
            .where(scorers.c.scorer_id == registration.scorer_id)  # type: ignore[attr-defined]
            .values(definition='{"code": "no_such_module:f", "name": "concise"}')
        )
    register(store, sample_scorers.length)
    [trace] = write(store, experiment_id, agent_trace(1, answer="abc"))
    job.run_due(NOW_MS)
    assert feedback_of(store, trace, "answer_length")[0].value == 3
    assert "no_such_module" in job.stats.load_errors[registration.scorer_id]  # type: ignore[attr-defined]
    assert "cannot import module 'no_such_module'" in caplog.text


@pytest.mark.parametrize("backend_runs", [1])
def test_two_workers_never_judge_a_trace_twice(any_store: SqlTraceStore, backend_runs: int) -> None:
    experiment = any_store.create_experiment("support-agent").experiment_id
    register_scorer(sample_scorers.concise, "support-agent", store=any_store, now_ms=REGISTERED_MS)
    ids = write(any_store, experiment, *(agent_trace(n) for n in range(1, 31)))
    first, second = make_job(any_store, batch_size=10), make_job(any_store, batch_size=10)
    try:
        import threading

        threads = [threading.Thread(target=j.run_due, args=(NOW_MS,)) for j in (first, second, first, second)]
        for thread in threads[:2]:
            thread.start()
        for thread in threads[:2]:
            thread.join()
        for tick in range(4):
            first.run_due(NOW_MS + tick)
            second.run_due(NOW_MS + tick)
    finally:
        first.close()
        second.close()
    assert [len(feedback_of(any_store, t, "concise")) for t in ids] == [1] * 30
