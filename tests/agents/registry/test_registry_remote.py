"""The registry through a real tracelake server: the SDK's REST backend, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import tracelake
import tracelake.agents as agents
from tracelake.agents.packaging import read_manifest
from tracelake.client import Client
from tracelake.exceptions import ConfigError, NotFoundError

from .conftest import ECHO_AGENT, RegistryServer

NAME = "main.support.agent"
EXAMPLE = {"input": [{"role": "user", "content": "hi"}]}


def test_log_alias_and_load_through_the_server(
    server: RegistryServer, write_agent: Callable[..., Path], tmp_path: Path
) -> None:
    tracelake.configure(tracking_uri=server.url, home=str(tmp_path / "client-home"))
    code = write_agent(ECHO_AGENT)

    first = agents.log_agent(NAME, code=code, config={"greeting": "one"}, input_example=EXAMPLE, tags={"git": "a1"})
    second = agents.log_agent(NAME, code=code, config={"greeting": "two"}, input_example=EXAMPLE)
    agents.set_alias(NAME, "champion", first.version)

    assert (first.version, second.version, first.tags) == (1, 2, {"git": "a1"})
    assert [m.name for m in agents.list_registered_models()] == [NAME]
    assert agents.get_registered_model(NAME).aliases == {"champion": 1}
    assert [v.version for v in agents.list_model_versions(NAME)] == [2, 1]
    assert agents.resolve_model(f"{NAME}@latest").version == 2
    assert agents.load_agent(f"models:/{NAME}@champion").predict(EXAMPLE).output_text == "one: hi"
    assert agents.load_agent(f"{NAME}/2").predict(EXAMPLE).output_text == "two: hi"

    with Client(server.url) as client:  # what the SDK stored is what the REST API serves
        assert read_manifest(client.get_model_version_package(NAME, 1)).config == {"greeting": "one"}
        assert client.get_model_version(NAME, 2).aliases == ()

    with pytest.raises(NotFoundError, match="has no version 3"):
        agents.load_agent(f"{NAME}/3")
    with pytest.raises(ConfigError, match="reserved"):
        agents.set_alias(NAME, "latest", 1)
    agents.delete_alias(NAME, "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        agents.resolve_model(f"{NAME}@champion")
    assert tracelake.flush(30)  # the predict calls above were traced to the server
