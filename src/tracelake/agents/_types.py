"""Request, response and stream-event types of a `ResponsesAgent`, following the OpenAI Responses API.

Input items are messages (text or content parts), function calls and function-call outputs;
output items are assistant messages with `output_text` parts, function calls (and, for agents
that run their tools themselves, function-call outputs). Fields beyond those tracelake reads are
kept (`extra="allow"`), so a request made by a newer OpenAI client still validates; fields tracelake
reads are checked strictly, and a bad request fails with a `pydantic.ValidationError` that the
endpoint turns into a 400 naming the field.

tracelake's additions: `custom_inputs` / `custom_outputs` (free-form JSON objects for what the
Responses API has no field for), `context` (conversation and user ids, recorded on the trace) and
`client_request_id` (an id the caller picks to find the trace again).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

__all__ = [
    "ChatContext",
    "ContentPart",
    "FunctionCall",
    "FunctionCallOutput",
    "InputFile",
    "InputImage",
    "InputItem",
    "InputText",
    "Message",
    "OutputItem",
    "OutputMessage",
    "OutputText",
    "Reasoning",
    "Refusal",
    "ResponsesRequest",
    "ResponsesResponse",
    "ResponsesStreamEvent",
    "Usage",
    "new_id",
]


def new_id(prefix: str) -> str:
    """Return a fresh id in the OpenAI style: `prefix` + "_" + 32 hex digits (e.g. `msg_…`, `resp_…`)."""
    return f"{prefix}_{uuid.uuid4().hex}"


class _Model(BaseModel):
    # Unknown fields are kept, not refused: the Responses API grows, and clients send what they know.
    model_config = ConfigDict(extra="allow")


# Content parts -------------------------------------------------------------------------------------
class InputText(_Model):
    type: Literal["input_text"] = "input_text"
    text: str


class OutputText(_Model):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)


class InputImage(_Model):
    type: Literal["input_image"] = "input_image"
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class InputFile(_Model):
    type: Literal["input_file"] = "input_file"
    file_id: str | None = None
    file_url: str | None = None
    file_data: str | None = None
    filename: str | None = None


class Refusal(_Model):
    type: Literal["refusal"] = "refusal"
    refusal: str


ContentPart = Annotated[
    InputText | OutputText | InputImage | InputFile | Refusal,
    Field(discriminator="type"),
]
OutputContent = Annotated[OutputText | Refusal, Field(discriminator="type")]
ItemStatus = Literal["in_progress", "completed", "incomplete"]


# Items ----------------------------------------------------------------------------------------------
class Message(_Model):
    """An input message: `{"role": "user", "content": "hi"}`, or content as a list of parts."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | None = None
    status: ItemStatus | None = None

    @property
    def text(self) -> str:
        """The message's text: the string content, or its text parts joined."""
        return _content_text(self.content)


class OutputMessage(_Model):
    """An assistant message in a response; `text_output_item(text)` builds one."""

    type: Literal["message"] = "message"
    id: str = Field(default_factory=lambda: new_id("msg"))
    role: Literal["assistant"] = "assistant"
    status: ItemStatus = "completed"
    content: list[OutputContent]

    @property
    def text(self) -> str:
        """The text of the message's `output_text` parts, joined."""
        return _content_text(self.content)


class FunctionCall(_Model):
    """The model asks the caller to run a tool: `name` with JSON `arguments`, answered by `call_id`."""

    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: ItemStatus | None = None


class FunctionCallOutput(_Model):
    """The result of a tool call, for the call with the same `call_id`."""

    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str | list[ContentPart]
    id: str | None = None
    status: ItemStatus | None = None


class Reasoning(_Model):
    """A reasoning item passed back from an earlier response (kept as is)."""

    type: Literal["reasoning"] = "reasoning"
    id: str | None = None
    summary: list[Any] = Field(default_factory=list)


_INPUT_TAGS = frozenset({"message", "function_call", "function_call_output", "reasoning"})


def _item_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind is None and "role" in value:
            return "message"  # the "easy" message form has no type
        return kind if kind in _INPUT_TAGS else None
    kind = getattr(value, "type", None)
    return kind if kind in _INPUT_TAGS else None


_UNSUPPORTED_ITEM = (
    "unsupported input item: expected a message (with role and content), function_call, "
    "function_call_output or reasoning item"
)

InputItem = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[Reasoning, Tag("reasoning")],
    Discriminator(_item_tag, custom_error_type="invalid_item", custom_error_message=_UNSUPPORTED_ITEM),
]
_UNSUPPORTED_OUTPUT = "unsupported output item: expected message, function_call, function_call_output or reasoning"
OutputItem = Annotated[
    Annotated[OutputMessage, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[Reasoning, Tag("reasoning")],
    Discriminator(
        _item_tag,
        custom_error_type="invalid_item",
        custom_error_message=_UNSUPPORTED_OUTPUT,
    ),
]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, InputText | OutputText))


# Request -------------------------------------------------------------------------------------------
class ChatContext(_Model):
    """Who is asking, recorded on the trace: `conversation_id` becomes its session id, `user_id` its user."""

    conversation_id: str | None = None
    user_id: str | None = None


class ResponsesRequest(_Model):
    """A request to an agent: the body of `POST /v1/responses` (OpenAI Responses API) plus tracelake's fields.

    `input` may be sent as a plain string; it is read as one user message, so an agent always sees a
    list of items.
    """

    input: list[InputItem] = Field(min_length=1)
    model: str | None = None
    instructions: str | None = None
    stream: bool = False
    metadata: dict[str, str] | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    custom_inputs: dict[str, Any] | None = None
    context: ChatContext | None = None
    client_request_id: str | None = Field(default=None, min_length=1, max_length=250)

    @field_validator("input", mode="before")
    @classmethod
    def _string_is_a_user_message(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [{"type": "message", "role": "user", "content": value}]
        return value

    @classmethod
    def coerce(cls, value: ResponsesRequest | Mapping[str, Any]) -> ResponsesRequest:
        """Return `value` as a request: a request as is, a mapping validated (raises `ValidationError`)."""
        return value if isinstance(value, ResponsesRequest) else cls.model_validate(value)

    @property
    def conversation_id(self) -> str | None:
        """The conversation this request belongs to: `context.conversation_id`, else `conversation`."""
        if self.context is not None and self.context.conversation_id:
            return self.context.conversation_id
        if isinstance(self.conversation, str):
            return self.conversation
        if isinstance(self.conversation, dict) and isinstance(self.conversation.get("id"), str):
            return str(self.conversation["id"])
        return (self.metadata or {}).get("conversation_id") or (self.metadata or {}).get("session_id")

    @property
    def user_id(self) -> str | None:
        """The end user: `context.user_id`, else the OpenAI `user` field, else `metadata.user_id`."""
        if self.context is not None and self.context.user_id:
            return self.context.user_id
        return self.user or (self.metadata or {}).get("user_id")


# Response ------------------------------------------------------------------------------------------
class Usage(_Model):
    """Token usage of a response (OpenAI Responses API shape)."""

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
    output_tokens_details: dict[str, int] = Field(default_factory=lambda: {"reasoning_tokens": 0})

    @model_validator(mode="after")
    def _total(self) -> Usage:
        if self.total_tokens is None:
            self.total_tokens = self.input_tokens + self.output_tokens
        return self


class ResponsesResponse(_Model):
    """An agent's answer: output items, and optionally usage and `custom_outputs`.

    An agent usually sets only `output` (and `usage`, `custom_outputs`); the endpoint fills in `id`,
    `model` and the trace id in `metadata`.
    """

    output: list[OutputItem] = Field(default_factory=list)
    id: str = Field(default_factory=lambda: new_id("resp"))
    object: Literal["response"] = "response"
    created_at: int = Field(default_factory=lambda: int(time.time()))
    status: Literal["completed", "failed", "in_progress", "incomplete", "cancelled", "queued"] = "completed"
    model: str | None = None
    usage: Usage | None = None
    metadata: dict[str, str] | None = None
    custom_outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def coerce(cls, value: ResponsesResponse | Mapping[str, Any]) -> ResponsesResponse:
        """Return `value` as a response: a response as is, a mapping validated (raises `ValidationError`)."""
        return value if isinstance(value, ResponsesResponse) else cls.model_validate(value)

    @property
    def output_text(self) -> str:
        """The text of every assistant message of the output, joined (as `openai`'s `Response.output_text`)."""
        return "".join(item.text for item in self.output if isinstance(item, OutputMessage))


class ResponsesStreamEvent(_Model):
    """One event of a streamed response, e.g. `response.output_text.delta` with `item_id` and `delta`.

    An agent's `predict_stream` yields text deltas (`text_delta_event`) and finished items
    (`output_item_done_event`); the endpoint completes them into the full Responses event sequence.
    Any other event type is passed through as is.
    """

    type: str
    item_id: str | None = None
    delta: str | None = None
    item: OutputItem | None = None
    output_index: int | None = None
    content_index: int | None = None
    response: ResponsesResponse | None = None

    @classmethod
    def coerce(cls, value: ResponsesStreamEvent | Mapping[str, Any]) -> ResponsesStreamEvent:
        """Return `value` as an event: an event as is, a mapping validated (raises `ValidationError`)."""
        return value if isinstance(value, ResponsesStreamEvent) else cls.model_validate(value)
