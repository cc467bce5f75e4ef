"""What the stub answers: scripted rules, tool calls, token counting, and the answer they produce."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSONObject = dict[str, Any]

#: The reply to judge-style prompts (asking for JSON with a score, verdict or rating).
DEFAULT_JUDGEMENT = '{"score": 5, "verdict": "yes", "rationale": "The LLM stub accepts every answer."}'

FAILURE_MESSAGE = "The LLM stub was told to fail this request."
_JUDGE_WORDS = ("score", "verdict", "rating", "rationale")


def count_tokens(text: str) -> int:
    """Return the stub's token count of `text`: its whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the stub's "model" makes (see `StubRule.tool_calls`).

    Attributes:
        name: the function's name.
        arguments: its arguments, as a mapping (sent as JSON) or a JSON string sent as is.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON string the OpenAI APIs carry."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(dict(self.arguments))


@dataclass(frozen=True, slots=True)
class StubRule:
    """A scripted answer: when `match` occurs in the prompt, reply with `reply` or fail with `status`.

    Attributes:
        match: substring searched (case-sensitively) in the prompt's text, all messages included.
        reply: the assistant text to answer with.
        status: if set, answer with this HTTP status and an OpenAI-style error body instead.
        message: the error message sent with `status`.
        times: apply the rule this many times only (e.g. fail once, then recover); None is forever.
        tool_calls: make the model call these functions. Such a rule applies only while the
            conversation's last item is the user's (not a tool's result), so an agent loop that
            sends the results back gets a final answer instead of the same calls again.
        cached_tokens: report this many prompt tokens as read from the cache (at most the prompt's).
        reasoning_tokens: report this many reasoning tokens, added to the output tokens as OpenAI counts them.
    """

    match: str
    reply: str = ""
    status: int | None = None
    message: str = FAILURE_MESSAGE
    times: int | None = None
    tool_calls: Sequence[ToolCall] = ()
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the stub received, kept so tests can assert what a client sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: JSONObject | None


class StubError(Exception):
    """Answer the request with an HTTP error in OpenAI's format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Conversation:
    """The parts of a chat or Responses request that decide the answer."""

    prompt: str
    """Every message's text, joined: rules match against it."""
    last_text: str
    """The last user message (or tool result, when the conversation ends with one): echoed by default."""
    ends_with_tool_result: bool
    input_tokens: int
    wants_json: bool


@dataclass(frozen=True, slots=True)
class Answer:
    """What one completion-style request gets back, before it is shaped for an endpoint."""

    model: str
    text: str
    input_tokens: int
    stream: bool
    include_usage: bool = False
    tool_calls: tuple[tuple[str, ToolCall], ...] = ()
    """(call id, call) pairs."""
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def output_tokens(self) -> int:
        calls = sum(count_tokens(f"{call.name} {call.arguments_json}") for _, call in self.tool_calls)
        return count_tokens(self.text) + calls + self.reasoning_tokens


class Rules:
    """The stub's rule list, safe to change from a test while the server answers on other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[StubRule] = []
        self._uses: dict[int, int] = {}

    def get(self) -> tuple[StubRule, ...]:
        with self._lock:
            return tuple(self._rules)

    def set(self, rules: Mapping[str, str] | Iterable[StubRule]) -> None:
        items = [StubRule(k, v) for k, v in rules.items()] if isinstance(rules, Mapping) else list(rules)
        with self._lock:
            self._rules = items
            self._uses.clear()

    def add(self, rule: StubRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def decide(self, conversation: Conversation) -> StubRule | None:
        """Return the first rule that applies (counting its use), or None; raise for a failure rule."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.match not in conversation.prompt:
                    continue
                if rule.tool_calls and conversation.ends_with_tool_result:
                    continue
                if rule.times is not None:
                    if self._uses.get(index, 0) >= rule.times:
                        continue
                    self._uses[index] = self._uses.get(index, 0) + 1
                if rule.status is not None:
                    raise StubError(rule.status, rule.message)
                return rule
        return None


def default_reply(conversation: Conversation) -> str:
    """The reply when no rule applies: a judge verdict for judge prompts, else an echo."""
    lowered = conversation.prompt.lower()
    if (conversation.wants_json or "json" in lowered) and any(word in lowered for word in _JUDGE_WORDS):
        return DEFAULT_JUDGEMENT
    return f"Echo: {conversation.last_text}"
