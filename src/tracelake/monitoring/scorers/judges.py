"""Built-in LLM judges: a prompt per question, one judge call, a yes/no value with a rationale."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from tracelake.model import AssessmentSourceType, SpanType, Trace
from tracelake.monitoring.scorers import prompts
from tracelake.monitoring.scorers.base import Scorer, ScoringContext
from tracelake.monitoring.scorers.feedback import Feedback
from tracelake.monitoring.scorers.judge_client import JudgeCall, JudgeClient, JudgeConfig
from tracelake.monitoring.scorers.parsing import normalize_yes_no, parse_judgement

__all__ = [
    "BUILTIN_JUDGES",
    "ConversationCompleteness",
    "Correctness",
    "Guidelines",
    "LLMJudge",
    "MissingInputError",
    "RelevanceToQuery",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "Safety",
    "ToolCallCorrectness",
    "UserFrustration",
]

#: Trace content beyond this many characters per field is cut before it reaches the judge.
MAX_FIELD_CHARS = 20_000


class MissingInputError(Exception):
    """The trace lacks what this judge needs (an expectation, retrieved documents, tool calls…).

    Not a failure: the worker skips the trace for this scorer and records why.
    """


def render(value: Any) -> str:
    """Render trace content as text for a prompt: strings as they are, the rest as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, indent=1)
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS] + " …[cut]"


class LLMJudge(Scorer):
    """A judge that asks an LLM one yes/no question about a trace.

    Args:
        name: the assessment's name (defaults to the judge's, e.g. `safety`).
        model: the judge model; defaults to `TRACELAKE_JUDGE_MODEL`.
    """

    kind: ClassVar[str] = "builtin"
    source_type: ClassVar[AssessmentSourceType] = AssessmentSourceType.LLM_JUDGE
    uses_judge: ClassVar[bool] = True
    default_name: ClassVar[str] = "judge"
    template: ClassVar[str] = ""

    def __init__(self, name: str | None = None, model: str | None = None) -> None:
        super().__init__(name or self.default_name)
        self.model = model

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        """Return the values of the template's placeholders; raise MissingInputError if one is absent."""
        return {"inputs": render(context.inputs), "outputs": render(context.outputs)}

    def arguments(self) -> dict[str, Any]:
        """The constructor arguments beyond name and model (stored in the definition)."""
        return {}

    def messages(self, context: ScoringContext) -> list[dict[str, str]]:
        """Return the chat messages of the judge call for this trace."""
        user = self.template.format(**self.prompt_fields(context)) + "\n\n" + prompts.ANSWER_FORMAT
        return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]

    def judge(
        self, context: ScoringContext, client: JudgeClient, on_call: Callable[[JudgeCall], None] | None = None
    ) -> list[Feedback]:
        """Ask the judge about one trace.

        Args:
            context: the trace (and session) to judge.
            client: the judge endpoint.
            on_call: told about the completed call before its answer is read (for tracing and cost).

        Raises:
            MissingInputError: the trace lacks what this judge needs.
            JudgeError: the endpoint failed or timed out.
            JudgeAnswerError: the answer has no readable yes/no value.
        """
        call = client.complete(self.messages(context), model=self.model)
        if on_call is not None:
            on_call(call)
        value, rationale = parse_judgement(call.text)
        metadata = {"judge_model": call.model}
        return [Feedback(value=normalize_yes_no(value), rationale=rationale, name=self.name, metadata=metadata)]

    def score(self, context: ScoringContext) -> list[Feedback]:
        """Judge with the endpoint of `TRACELAKE_JUDGE_*` (the worker passes its own client to `judge`)."""
        client = JudgeClient(JudgeConfig.from_env())
        try:
            return self.judge(context, client)
        finally:
            client.close()

    def definition(self) -> dict[str, Any]:
        return {"judge": type(self).__name__, "name": self.name, "model": self.model, **self.arguments()}


class Safety(LLMJudge):
    """Is the response free of harmful content? ("yes" = safe)."""

    default_name = "safety"
    template = prompts.SAFETY


class RelevanceToQuery(LLMJudge):
    """Does the response address the request?"""

    default_name = "relevance_to_query"
    template = prompts.RELEVANCE_TO_QUERY


class Guidelines(LLMJudge):
    """Does the response follow every given guideline?

    Args:
        guidelines: one guideline or several, in plain language ("The response is polite.").
    """

    default_name = "guidelines"
    template = prompts.GUIDELINES

    def __init__(self, name: str | None = None, guidelines: str | Sequence[str] = (), model: str | None = None) -> None:
        super().__init__(name, model)
        self.guidelines = [guidelines] if isinstance(guidelines, str) else list(guidelines)
        if not self.guidelines or not all(isinstance(g, str) and g.strip() for g in self.guidelines):
            raise ValueError("Guidelines needs at least one non-empty guideline")

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        listed = "\n".join(f"- {line}" for line in self.guidelines)
        return {**super().prompt_fields(context), "guidelines": listed}

    def arguments(self) -> dict[str, Any]:
        return {"guidelines": list(self.guidelines)}


class Correctness(LLMJudge):
    """Is the response correct against the trace's expectation (`expected_response` or `expected_facts`)?"""

    default_name = "correctness"
    template = prompts.CORRECTNESS
    needs_expectations = True
    expectation_names: ClassVar[tuple[str, ...]] = ("expected_response", "expected_facts")

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        for name in self.expectation_names:
            if name in context.expectations:
                return {**super().prompt_fields(context), "expected": render(context.expectations[name])}
        raise MissingInputError("the trace has no expectation 'expected_response' or 'expected_facts'")


def _spans_of_type(trace: Trace, span_type: str) -> list[Any]:
    return [span for span in trace.data.spans if span.span_type == span_type]


def _retrieved(context: ScoringContext) -> str:
    documents = [span.outputs for span in _spans_of_type(context.trace, SpanType.RETRIEVER.value)]
    if not documents:
        raise MissingInputError("the trace has no RETRIEVER span")
    return render(documents[0] if len(documents) == 1 else documents)


class RetrievalGroundedness(LLMJudge):
    """Is the response supported by what the RETRIEVER spans returned?"""

    default_name = "retrieval_groundedness"
    template = prompts.RETRIEVAL_GROUNDEDNESS

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        return {**super().prompt_fields(context), "context": _retrieved(context)}


class RetrievalRelevance(LLMJudge):
    """Are the retrieved documents relevant to the request?"""

    default_name = "retrieval_relevance"
    template = prompts.RETRIEVAL_RELEVANCE

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        return {**super().prompt_fields(context), "context": _retrieved(context)}


class ToolCallCorrectness(LLMJudge):
    """Were the right tools called, with sensible arguments?"""

    default_name = "tool_call_correctness"
    template = prompts.TOOL_CALL_CORRECTNESS

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        calls = [
            {"name": span.name, "arguments": span.inputs, "result": span.outputs}
            for span in _spans_of_type(context.trace, SpanType.TOOL.value)
        ]
        if not calls:
            raise MissingInputError("the trace has no TOOL span")
        return {**super().prompt_fields(context), "tools": render(calls)}


def _conversation(context: ScoringContext) -> str:
    turns: list[str] = []
    for trace in context.session or (context.trace,):
        request = trace.info.request_preview or render(trace.data.request)
        response = trace.info.response_preview or render(trace.data.response)
        turns.append(f"User: {request}\nAssistant: {response}")
    return render("\n\n".join(turns))


class _SessionJudge(LLMJudge):
    session_level: ClassVar[bool] = True

    def prompt_fields(self, context: ScoringContext) -> dict[str, str]:
        return {"conversation": _conversation(context)}


class UserFrustration(_SessionJudge):
    """Session-level: is the user left frustrated? ("yes" = frustrated)."""

    default_name = "user_frustration"
    template = prompts.USER_FRUSTRATION


class ConversationCompleteness(_SessionJudge):
    """Session-level: was every request of the conversation handled?"""

    default_name = "conversation_completeness"
    template = prompts.CONVERSATION_COMPLETENESS


#: The built-in judges by class name, as stored in a registration's definition.
BUILTIN_JUDGES: dict[str, type[LLMJudge]] = {
    cls.__name__: cls
    for cls in (
        Safety,
        RelevanceToQuery,
        Guidelines,
        Correctness,
        RetrievalGroundedness,
        RetrievalRelevance,
        ToolCallCorrectness,
        UserFrustration,
        ConversationCompleteness,
    )
}
