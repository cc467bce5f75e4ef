from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

import tracelake
from tracelake.testing.llm_stub import LLMStub


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as server:
        yield server


@pytest.fixture
def client(stub: LLMStub) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stub.base_url, api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture
def autologged() -> Iterator[list[str]]:
    """openai traced by autolog for the test, and untraced after it (the instrumentor patches globally)."""
    traced = tracelake.autolog(libraries=["openai"])
    try:
        yield traced
    finally:
        tracelake.autolog(disable=True)
