from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from tracelake.testing.llm_stub import DEFAULT_JUDGEMENT, LLMStub, StubRule, count_tokens


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as server:
        yield server


@pytest.fixture
def client(stub: LLMStub) -> Iterator[openai.OpenAI]:
    # No retries: a scripted failure must surface on the first attempt.
    with openai.OpenAI(base_url=stub.base_url, api_key="unused", max_retries=0) as c:
        yield c


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_count_tokens_counts_whitespace_separated_words() -> None:
    assert count_tokens("") == 0
    assert count_tokens("  one two\nthree\tfour ") == 4


def test_chat_completion_echoes_and_counts_tokens(client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *_user("Where is my order?")]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert completion.choices[0].message.content == "Echo: Where is my order?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 5)
    assert completion.usage.total_tokens == 11


def test_chat_content_parts_are_read_as_text(client: openai.OpenAI) -> None:
    content = [{"type": "text", "text": "first part"}, {"type": "text", "text": "second"}]
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])

    assert completion.choices[0].message.content == "Echo: first part\nsecond"


def test_chat_stream_with_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=_user("tell me a story"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: tell me a story"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 5  # one chunk per word
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 5)


def test_chat_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m", messages=_user("hi"), stream=True))

    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_rules_script_replies_first_match_wins(stub: LLMStub, client: openai.OpenAI) -> None:
    stub.rules = {"refund": "Refunds take 5 days.", "refund policy": "never chosen"}
    stub.add_rule("shipping", "Ships tomorrow.")

    def ask(text: str) -> str | None:
        return client.chat.completions.create(model="m", messages=_user(text)).choices[0].message.content

    assert ask("What is your refund policy?") == "Refunds take 5 days."
    assert ask("shipping?") == "Ships tomorrow."
    assert [rule.match for rule in stub.rules] == ["refund", "refund policy", "shipping"]
    stub.clear_rules()
    assert ask("shipping?") == "Echo: shipping?"


def test_rules_match_system_messages_too(stub: LLMStub, client: openai.OpenAI) -> None:
    stub.rules = [StubRule("You grade answers", "graded")]
    messages = [{"role": "system", "content": "You grade answers."}, *_user("The answer is 4.")]

    reply = client.chat.completions.create(model="m", messages=messages)

    assert reply.choices[0].message.content == "graded"


def test_error_rule_answers_with_openai_error(stub: LLMStub, client: openai.OpenAI) -> None:
    stub.add_rule("overload", status=429, message="slow down")
    stub.add_rule("crash", status=500)

    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(model="m", messages=_user("overload me"))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=_user("crash now"), stream=True)

    assert rate_limited.value.status_code == 429
    assert rate_limited.value.body == {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}


def test_error_rule_with_times_fails_then_recovers(stub: LLMStub) -> None:
    stub.add_rule("flaky", status=503, times=1)
    body = {"model": "m", "messages": _user("flaky call")}

    with httpx.Client(base_url=stub.base_url) as http:
        first = http.post("/chat/completions", json=body)
        second = http.post("/chat/completions", json=body)

    assert first.status_code == 503
    assert first.json()["error"]["type"] == "server_error"
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "Echo: flaky call"


def test_judge_prompts_get_the_default_json_verdict(client: openai.OpenAI) -> None:
    prompt = "Rate the answer. Reply in JSON with a score and a rationale."
    by_text = client.chat.completions.create(model="m", messages=_user(prompt))
    by_format = client.chat.completions.create(
        model="m", messages=_user("Give a verdict."), response_format={"type": "json_object"}
    )

    assert by_text.choices[0].message.content == DEFAULT_JUDGEMENT
    assert by_format.choices[0].message.content == DEFAULT_JUDGEMENT
    assert json.loads(DEFAULT_JUDGEMENT)["verdict"] == "yes"


def test_responses_api(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Hello there")

    assert response.output_text == "Echo: Hello there"
    assert response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (4, 3, 7)


def test_responses_api_accepts_input_items(client: openai.OpenAI) -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "user", "content": "last"},
    ]

    response = client.responses.create(model="m", input=items)

    assert response.output_text == "Echo: last"


def test_responses_streaming_events(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o-mini", input="stream this please") as stream:
        events = list(stream)
        final = stream.get_final_response()

    types = [event.type for event in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Echo: stream this please"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.output_text == "Echo: stream this please"
    assert final.usage is not None
    assert final.usage.output_tokens == 4


def test_embeddings_are_deterministic_unit_vectors(client: openai.OpenAI) -> None:
    # The client asks for base64 unless told otherwise; both encodings must decode to the same vector.
    default = client.embeddings.create(model="text-embedding-3-small", input=["red apple", "pear"])
    floats = client.embeddings.create(model="text-embedding-3-small", input="red apple", encoding_format="float")
    wide = client.embeddings.create(model="text-embedding-3-small", input="red apple", dimensions=32)

    first, second = default.data[0].embedding, default.data[1].embedding
    assert first == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert first != second
    assert len(first) == 8
    assert len(wide.data[0].embedding) == 32
    assert math.sqrt(sum(v * v for v in first)) == pytest.approx(1.0, abs=1e-5)
    assert default.usage.prompt_tokens == 3


def test_models_are_listed(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]

    assert "gpt-4o-mini" in ids


def test_bad_requests_get_4xx(stub: LLMStub, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=[])
    with httpx.Client(base_url=stub.url) as http:
        not_json = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        not_messages = http.post("/v1/chat/completions", json={"model": "m", "messages": ["hi"]})
        no_input = http.post("/v1/responses", json={"model": "m", "input": []})
        unknown = http.post("/v1/images/generations", json={})
        no_prefix = http.get("/models")

    assert not_json.status_code == 400
    assert not_messages.status_code == no_input.status_code == 400
    assert unknown.status_code == 404
    assert "no route" in unknown.json()["error"]["message"]
    assert no_prefix.status_code == 404


def test_requests_are_recorded(stub: LLMStub, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="m", messages=_user("hi"), extra_headers={"traceparent": "00-abc-def-01"})

    recorded = stub.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["traceparent"] == "00-abc-def-01"
    assert recorded.body is not None
    assert recorded.body["messages"] == _user("hi")


async def test_concurrent_async_clients(stub: LLMStub) -> None:
    async with openai.AsyncOpenAI(base_url=stub.base_url, api_key="unused", max_retries=0) as client:
        replies = await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=_user(f"question {i}")) for i in range(8))
        )

    assert [r.choices[0].message.content for r in replies] == [f"Echo: question {i}" for i in range(8)]
    assert len({r.id for r in replies}) == 8


def test_lifecycle() -> None:
    stub = LLMStub(rules={"a": "b"})
    with pytest.raises(RuntimeError):
        _ = stub.base_url
    stub.start()
    assert stub.start() is stub  # starting twice keeps the same server
    assert stub.base_url == f"http://127.0.0.1:{stub.port}/v1"
    port = stub.port
    stub.stop()
    stub.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models")


def test_runs_as_a_module() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tracelake.testing.llm_stub", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # blocks until the server is listening
        base_url = next(word for word in banner.split() if word.startswith("http:"))
        assert base_url.endswith("/v1")
        assert httpx.get(f"{base_url}/models").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
