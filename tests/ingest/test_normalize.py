from __future__ import annotations

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, counted_span_ids, normalize
from tracelake.ingest.normalize import normalize_span
from tracelake.model import (
    EXCEPTION_EVENT,
    EXCEPTION_MESSAGE,
    EXCEPTION_TYPE,
    EventRecord,
    Span,
    SpanAttributes,
    SpanEvent,
    SpanStatus,
    StatusCode,
    TokenUsage,
)

from .records import T0, js, record

OTHER_TRACE = "11111111111111111111111111111111"
USAGE = {SpanAttributes.TOKEN_USAGE: js({"input_tokens": 10, "output_tokens": 5})}


def test_batches_group_by_trace_in_first_seen_order() -> None:
    records = [
        record("a1", trace_id="a" * 32),
        record("b1", trace_id="b" * 32),
        record("a2", "a1", trace_id="a" * 32),
        record("c1", trace_id="c" * 32),
        record("b2", "b1", trace_id="b" * 32),
    ]
    batches = normalize(records)
    assert [batch.trace_id for batch in batches] == ["a" * 32, "b" * 32, "c" * 32]
    assert [[span.span_id for span in batch.spans] for batch in batches] == [["a1", "a2"], ["b1", "b2"], ["c1"]]


def test_empty_input() -> None:
    assert normalize([]) == []


def test_a_repeated_span_keeps_its_position_and_its_last_version() -> None:
    first = record("s1", end=None)
    second = record("s2", "s1")
    again = record("s1", end=T0 + 5, status=StatusCode.OK)
    [batch] = normalize([first, second, again])
    assert [span.span_id for span in batch.spans] == ["s1", "s2"]
    assert batch.spans[0].end_time_ns == T0 + 5
    assert batch.spans[0].status.code is StatusCode.OK


def test_status_and_events_are_kept() -> None:
    exception = EventRecord(
        EXCEPTION_EVENT,
        T0 + 10,
        {EXCEPTION_TYPE: "ValueError", EXCEPTION_MESSAGE: "boom", "exception.stacktrace": "tb"},
    )
    records = [
        record("e1", status=StatusCode.ERROR, status_message="ValueError: boom", events=(exception,)),
        record("e2", "e1", end=None),
    ]
    [batch] = normalize(records)
    failed, open_span = batch.spans
    assert failed.status == SpanStatus(StatusCode.ERROR, "ValueError: boom")
    assert failed.events == [SpanEvent(EXCEPTION_EVENT, T0 + 10, dict(exception.attributes))]
    assert open_span.status == SpanStatus(StatusCode.UNSET)
    assert open_span.end_time_ns is None
    assert open_span.duration_ns is None


def test_empty_parent_id_means_root() -> None:
    [batch] = normalize([record("r", "", {SpanAttributes.INPUTS: js("q")})])
    assert batch.spans[0].parent_id is None
    assert batch.fields.request_preview == "q"


def test_records_are_not_mutated() -> None:
    attributes = {SpanAttributes.INPUTS: js({"a": 1}), SpanAttributes.SPAN_TYPE: "TOOL"}
    snapshot = dict(attributes)
    rec = record(attributes=attributes)
    [batch] = normalize([rec])
    assert rec.attributes == snapshot
    assert batch.spans[0].attributes is not rec.attributes


def test_nested_llm_spans_are_counted_once() -> None:
    # agent → user's LLM span (usage) → autologged LLM call (usage); plus a sibling LLM call.
    records = [
        record("root", None, {SpanAttributes.SPAN_TYPE: "AGENT"}),
        record("user-llm", "root", USAGE),
        record("chain", "user-llm", {}),
        record("autolog-llm", "chain", USAGE),
        record("sibling-llm", "root", USAGE),
    ]
    [batch] = normalize(records)
    assert batch.counted_span_ids == frozenset({"user-llm", "sibling-llm"})


def test_only_ancestors_within_the_batch_are_considered() -> None:
    # The parent with usage arrived in an earlier batch: this batch cannot know, so it counts.
    [batch] = normalize([record("child", "parent-elsewhere", USAGE)])
    assert batch.counted_span_ids == frozenset({"child"})


def test_counted_span_ids_survive_parent_cycles() -> None:
    def span(span_id: str, parent: str, usage: TokenUsage | None) -> Span:
        return Span(OTHER_TRACE, span_id, parent, "x", "LLM", 0, 1, SpanStatus(), token_usage=usage)

    spans = [span("a", "b", TokenUsage(1, 1, 2)), span("b", "a", None)]
    assert counted_span_ids(spans) == frozenset({"a"})


def test_one_trace_across_several_batches() -> None:
    # The SDK exports children first; the root (with trace fields) comes in a later export.
    root_attributes = {
        SpanAttributes.SPAN_TYPE: "AGENT",
        SpanAttributes.INPUTS: js({"messages": [{"role": "user", "content": "hi"}]}),
        SpanAttributes.OUTPUTS: js("hello"),
        SpanAttributes.TRACE_TAGS: js({"k": "v"}),
        SpanAttributes.TRACE_METADATA: js({"session_id": "s"}),
    }
    first = normalize([record("llm", "root", USAGE), record("tool", "root", {"session.id": "from-child"})])
    second = normalize([record("root", None, root_attributes)])

    [early] = first
    assert early.fields.request_preview is None
    assert early.fields.response_preview is None
    assert early.fields.tags == {}
    assert early.fields.metadata == {"session_id": "from-child"}
    assert early.counted_span_ids == frozenset({"llm"})

    [late] = second
    assert late.trace_id == early.trace_id
    assert late.fields.request_preview == "hi"
    assert late.fields.response_preview == "hello"
    assert late.fields.tags == {"k": "v"}
    assert late.fields.metadata == {"session_id": "s"}
    assert late.counted_span_ids == frozenset()


def test_tags_merge_across_spans_and_the_root_wins() -> None:
    records = [
        record("root", None, {SpanAttributes.TRACE_TAGS: js({"a": "1", "shared": "root"})}),
        record("child", "root", {SpanAttributes.TRACE_TAGS: js({"b": "2", "shared": "child"})}),
    ]
    [batch] = normalize(records)
    assert batch.fields.tags == {"a": "1", "b": "2", "shared": "root"}


def test_later_spans_overwrite_earlier_non_root_spans() -> None:
    records = [
        record("c1", "root", {SpanAttributes.TRACE_METADATA: js({"k": "first"})}),
        record("c2", "root", {SpanAttributes.TRACE_METADATA: js({"k": "second"})}),
    ]
    [batch] = normalize(records)
    assert batch.fields.metadata == {"k": "second"}


def test_the_roots_implied_session_wins_over_a_childs() -> None:
    records = [record("c1", "root", {"session.id": "child"}), record("root", None, {"session.id": "root"})]
    [batch] = normalize(records)
    assert batch.fields.metadata == {"session_id": "root"}


def test_root_preview_override_wins_over_a_childs() -> None:
    records = [
        record("child", "root", {SpanAttributes.TRACE_REQUEST_PREVIEW: "child says"}),
        record("root", None, {SpanAttributes.TRACE_REQUEST_PREVIEW: "root says"}),
    ]
    [batch] = normalize(records)
    assert batch.fields.request_preview == "root says"


def test_preview_override_without_root_in_batch() -> None:
    [batch] = normalize([record("child", "root", {SpanAttributes.TRACE_RESPONSE_PREVIEW: "x" * 5000})])
    assert batch.fields.request_preview is None
    assert batch.fields.response_preview is not None
    assert batch.fields.response_preview.endswith("…")


def test_a_second_parentless_span_does_not_displace_the_root() -> None:
    records = [
        record("root", None, {SpanAttributes.INPUTS: js("q"), SpanAttributes.TRACE_TAGS: js({"a": "1"})}),
        record("stray", None, {SpanAttributes.INPUTS: js("other"), SpanAttributes.TRACE_TAGS: js({"b": "2"})}),
    ]
    [batch] = normalize(records)
    assert batch.fields.request_preview == "q"
    assert batch.fields.tags == {"a": "1", "b": "2"}


def test_malformed_attributes_never_raise() -> None:
    garbage: list[dict[str, object]] = [
        {SpanAttributes.TOKEN_USAGE: js({"input_tokens": "many", "output_tokens": -3}), SpanAttributes.MODEL: 5},
        {SpanAttributes.COST: js({"input_cost": "x"}), SpanAttributes.TRACE_TAGS: "null"},
        {"openinference.span.kind": ["LLM"], "input.value": 3, "input.mime_type": "application/json"},
        {"llm.input_messages.0.message": "flat", "llm.input_messages.0.message.role": "user"},
        {"llm.input_messages.x.message.role": "user", "retrieval.documents.0": 7, "tag.tags": True},
        {"gen_ai.input.messages": "{", "gen_ai.usage.input_tokens": 1e400, "gen_ai.system_instructions": 0},
        {"mlflow.spanType": '"', "mlflow.chat.tokenUsage": "[]", "mlflow.traceTag.t": None},
        {SpanAttributes.INPUTS: js({"messages": [1, None, {"role": "user", "content": 5}]})},
        {SpanAttributes.OUTPUTS: js({"output": [{"type": "message", "role": "assistant", "content": [None, 5]}]})},
        {SpanAttributes.INPUTS: "1e999", SpanAttributes.OUTPUTS: js({"choices": [None]})},
    ]
    events = (
        EventRecord("gen_ai.choice", T0, {"message": "{"}),
        EventRecord("gen_ai.user.message", T0, {}),
        EventRecord("gen_ai.client.inference.operation.details", T0, {"gen_ai.input.messages": 5}),
    )
    records = [
        record(f"s{i}", None if i == 0 else "s0", attributes, events=events, resource={"service.name": 3})
        for i, attributes in enumerate(garbage)
    ]
    [batch] = normalize(records)
    assert len(batch.spans) == len(garbage)
    assert batch.spans[0].token_usage is None


def test_every_span_field_comes_from_the_record() -> None:
    # normalize_span builds Span positionally: a reordered Span field must fail here.
    event = EventRecord("ev", T0 + 1, {"x": 1})
    attributes = {
        SpanAttributes.SPAN_TYPE: "LLM",
        SpanAttributes.INPUTS: js("in"),
        SpanAttributes.OUTPUTS: js("out"),
        SpanAttributes.MODEL: "my-model",
        SpanAttributes.TOKEN_USAGE: js({"input_tokens": 1, "output_tokens": 2}),
        SpanAttributes.COST: js({"input_cost": 0.5, "output_cost": 0.25}),
        "other": True,
    }
    rec = record(
        "span-1",
        "parent-1",
        attributes,
        name="call",
        events=(event,),
        status=StatusCode.ERROR,
        status_message="boom",
        start=T0,
        end=T0 + 9,
    )
    span, _ = normalize_span(rec)
    assert span == Span(
        trace_id=rec.trace_id,
        span_id="span-1",
        parent_id="parent-1",
        name="call",
        span_type="LLM",
        start_time_ns=T0,
        end_time_ns=T0 + 9,
        status=SpanStatus(StatusCode.ERROR, "boom"),
        inputs="in",
        outputs="out",
        attributes={"other": True, CONVENTIONS_ATTRIBUTE: ["tracelake"]}
        | {
            key: value
            for key, value in attributes.items()
            if key not in (SpanAttributes.INPUTS, SpanAttributes.OUTPUTS)
        },
        events=[SpanEvent("ev", T0 + 1, {"x": 1})],
        model_name="my-model",
        token_usage=TokenUsage(1, 2, 3),
        cost=span.cost,
    )
    assert span.cost is not None
    assert (span.cost.input_cost, span.cost.output_cost, span.cost.total_cost) == (0.5, 0.25, 0.75)
