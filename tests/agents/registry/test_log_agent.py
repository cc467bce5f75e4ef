"""`log_agent`, aliases and `load_agent` in embedded mode: packages, validation in a fresh process, versions."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

import tracelake
import tracelake.agents as agents
from tracelake.agents import AgentPackageError, AgentValidationError
from tracelake.agents.packaging import read_manifest
from tracelake.exceptions import ConfigError, NotFoundError
from tracelake.testing.llm_stub import LLMStub

from .conftest import ECHO_AGENT, LLM_AGENT

NAME = "main.support.agent"
EXAMPLE = {"input": [{"role": "user", "content": "hi"}]}
WriteAgent = Callable[..., Path]


def _package(version: agents.ModelVersion) -> bytes:
    from tracelake import _setup

    return _setup.get_backend().get_model_version_package(version.name, version.version)


def test_an_llm_agent_is_logged_validated_versioned_and_loaded_by_alias(write_agent: WriteAgent, llm: LLMStub) -> None:
    code = write_agent(LLM_AGENT)
    config = {"llm_base_url": llm.base_url, "temperature": 0.2}

    first = agents.log_agent(NAME, code=str(code), requirements=["openai>=1"], config=config, input_example=EXAMPLE)
    second = agents.log_agent(NAME, code=code, requirements=["openai>=1"], config=config, input_example=EXAMPLE)

    assert (first.version, second.version) == (1, 2)
    assert first.source == str(code.resolve())
    # The validation process answered the example through the real openai client and the stub.
    assert [r.body["messages"][-1]["content"] for r in llm.requests if r.body] == ["hi", "hi"]
    manifest = read_manifest(_package(first))
    assert manifest.entry == "code/agent.py"
    assert manifest.config == config
    assert manifest.input_example == EXAMPLE
    assert manifest.requirements == ("openai>=1", f"tracelake=={tracelake.__version__}")

    agents.set_alias(NAME, "champion", 1)
    model = agents.get_registered_model(NAME)
    assert (model.latest_version, model.aliases) == (2, {"champion": 1})
    assert [v.version for v in agents.list_model_versions(NAME)] == [2, 1]

    agent = agents.load_agent(f"{NAME}@champion")
    assert agent.config == config
    assert agent.predict({"input": "how do refunds work?"}).output_text == "Refunds take 5 days."


def test_every_uri_form_resolves(write_agent: WriteAgent) -> None:
    code = write_agent(ECHO_AGENT)
    for greeting in ("one", "two"):
        agents.log_agent(NAME, code=code, config={"greeting": greeting}, input_example=EXAMPLE)
    agents.set_alias(NAME, "champion", 1)

    assert agents.resolve_model(f"models:/{NAME}/2").version == 2
    assert agents.resolve_model(f"{NAME}/1").version == 1
    assert agents.resolve_model(f"{NAME}@champion").version == 1
    assert agents.resolve_model(f"models:/{NAME}@latest").version == 2
    assert agents.load_agent(f"{NAME}/2").predict(EXAMPLE).output_text == "two: hi"
    assert agents.load_agent(f"{NAME}@champion", config={"greeting": "hey"}).predict(EXAMPLE).output_text == "hey: hi"

    with pytest.raises(NotFoundError, match="has no version 3"):
        agents.load_agent(f"{NAME}/3")
    with pytest.raises(NotFoundError, match="no alias 'prod'"):
        agents.load_agent(f"{NAME}@prod")
    with pytest.raises(NotFoundError, match=r"no registered model named 'main\.other\.agent'"):
        agents.load_agent("main.other.agent/1")
    with pytest.raises(ConfigError, match="name a version or an alias"):
        agents.load_agent(NAME)


def test_an_agent_that_fails_to_load_is_refused_with_the_childs_error(write_agent: WriteAgent) -> None:
    code = write_agent("import module_that_is_not_installed\n")

    with pytest.raises(AgentValidationError, match="module_that_is_not_installed") as caught:
        agents.log_agent(NAME, code=code, input_example=EXAMPLE)

    assert "ModuleNotFoundError" in str(caught.value)
    assert "Traceback" in caught.value.output
    assert agents.list_registered_models() == []


def test_an_agent_that_fails_on_its_input_example_is_refused(write_agent: WriteAgent) -> None:
    good = write_agent(ECHO_AGENT)
    agents.log_agent(NAME, code=good, input_example=EXAMPLE)
    failing = write_agent(
        """
        from tracelake.agents import ResponsesAgent

        class Failing(ResponsesAgent):
            def predict(self, request):
                raise ValueError("the example broke me")
        """,
        name="failing.py",
    )

    with pytest.raises(AgentValidationError, match="ValueError: the example broke me"):
        agents.log_agent(NAME, code=failing, input_example=EXAMPLE)

    assert [v.version for v in agents.list_model_versions(NAME)] == [1]  # nothing new registered


def test_an_input_example_that_is_not_a_responses_request_is_refused(write_agent: WriteAgent) -> None:
    code = write_agent(ECHO_AGENT)
    with pytest.raises(AgentValidationError, match="input"):
        agents.log_agent(NAME, code=code, input_example={"input": 42, "temperature": "hot"})
    assert agents.list_registered_models() == []


def test_without_an_example_the_agent_must_still_load(write_agent: WriteAgent) -> None:
    code = write_agent("from tracelake.agents import ResponsesAgent\n")  # defines no agent
    with pytest.raises(AgentValidationError, match="defines no ResponsesAgent subclass"):
        agents.log_agent(NAME, code=code)
    assert agents.log_agent(NAME, code=write_agent(ECHO_AGENT, name="echo.py")).version == 1


def test_only_packaged_files_are_importable_and_folders_can_be_packaged(write_agent: WriteAgent) -> None:
    code = write_agent(
        """
        from shout_helpers.text import shout
        from tracelake.agents import ResponsesAgent, ResponsesResponse, text_output_item

        class Shouter(ResponsesAgent):
            def predict(self, request):
                return ResponsesResponse(output=[text_output_item(shout(request.input[-1].text))])
        """
    )
    write_agent("def shout(text):\n    return text.upper() + '!'\n", name="shout_helpers/text.py")
    write_agent("", name="shout_helpers/__init__.py")
    (code.parent / "shout_helpers" / "__pycache__").mkdir()
    (code.parent / "shout_helpers" / "__pycache__" / "text.cpython-311.pyc").write_bytes(b"junk")

    # The helpers sit next to the agent on disk, but validation sees only the package.
    with pytest.raises(AgentValidationError, match="No module named 'shout_helpers'"):
        agents.log_agent(NAME, code=code, input_example=EXAMPLE)

    version = agents.log_agent(NAME, code=[code, code.parent / "shout_helpers"], input_example=EXAMPLE)
    assert agents.load_agent(version.uri).predict(EXAMPLE).output_text == "HI!"
    with tarfile.open(fileobj=io.BytesIO(_package(version)), mode="r:gz") as archive:
        names = sorted(archive.getnames())
    assert names == [
        "agent.json",
        "code/agent.py",
        "code/shout_helpers/__init__.py",
        "code/shout_helpers/text.py",
        "requirements.txt",
    ]


def test_a_tracelake_requirement_given_is_kept_and_requirements_files_work(
    write_agent: WriteAgent, tmp_path: Path
) -> None:
    code = write_agent(ECHO_AGENT)
    version = agents.log_agent(NAME, code=code, requirements=["tracelake[agents]>=0.1", "httpx"])
    assert read_manifest(_package(version)).requirements == ("tracelake[agents]>=0.1", "httpx")

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned\nopenai>=1  # the client\n\nhttpx\n", encoding="utf-8")
    version = agents.log_agent(NAME, code=code, requirements=requirements)
    assert read_manifest(_package(version)).requirements == (
        "openai>=1",
        "httpx",
        f"tracelake=={tracelake.__version__}",
    )


@pytest.mark.parametrize("name", ["agent", "main.agent", "main.support.agent.v2", "main.support.agent name"])
def test_a_name_that_is_not_catalog_schema_name_is_refused(write_agent: WriteAgent, name: str) -> None:
    with pytest.raises(ConfigError, match=r"catalog\.schema\.name"):
        agents.log_agent(name, code=write_agent(ECHO_AGENT))


def test_bad_arguments_are_clear_errors(write_agent: WriteAgent, tmp_path: Path) -> None:
    code = write_agent(ECHO_AGENT)
    with pytest.raises(AgentPackageError, match="does not exist"):
        agents.log_agent(NAME, code=tmp_path / "missing.py")
    with pytest.raises(AgentPackageError, match=r"first item must be the agent's \.py file"):
        agents.log_agent(NAME, code=[code.parent])
    with pytest.raises(AgentPackageError, match="not a valid requirement"):
        agents.log_agent(NAME, code=code, requirements=["openai >>= 1"])
    with pytest.raises(AgentPackageError, match="JSON-serialisable"):
        agents.log_agent(NAME, code=code, config={"client": object()})
    with pytest.raises(ConfigError, match="reserved"):
        agents.set_alias(NAME, "latest", 1)
    assert agents.list_registered_models() == []


def test_a_validation_that_hangs_is_cut_off(write_agent: WriteAgent) -> None:
    code = write_agent("import time\ntime.sleep(60)\n")
    with pytest.raises(AgentValidationError, match="within 2 s"):
        agents.log_agent(NAME, code=code, validation_timeout_s=2)
    assert agents.list_registered_models() == []
