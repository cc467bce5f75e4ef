"""load_agent_from_file: the contract of an agent code file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tracelake.agents import AgentLoadError, ResponsesAgent, load_agent_from_file

HEADER = "from tracelake.agents import ResponsesAgent, ResponsesResponse, text_output_item, set_agent\n"
AGENT = """
class {name}(ResponsesAgent):
    def __init__(self, greeting="hi"):
        self.seen_in_init = dict(self.config)
        self.greeting = greeting

    def predict(self, request):
        return ResponsesResponse(output=[text_output_item(self.greeting + " " + str(self.config.get("who")))])
"""

BAD_INIT = """
class Bad(ResponsesAgent):
    def __init__(self):
        raise ValueError("boom")

    def predict(self, request): ...
"""


def write(tmp_path: Path, body: str, name: str = "agent.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def test_the_one_subclass_is_instantiated_with_the_config_visible_in_init(tmp_path: Path) -> None:
    agent = load_agent_from_file(write(tmp_path, AGENT.format(name="Greeter")), {"who": "ada"})
    assert type(agent).__name__ == "Greeter"
    assert agent.seen_in_init == {"who": "ada"}  # type: ignore[attr-defined]
    assert agent.predict({"input": "x"}).output_text == "hi ada"


def test_without_config_the_config_is_empty(tmp_path: Path) -> None:
    agent = load_agent_from_file(write(tmp_path, AGENT.format(name="Greeter")))
    assert agent.config == {}


def test_set_agent_names_the_agent_among_several(tmp_path: Path) -> None:
    body = AGENT.format(name="First") + AGENT.format(name="Second") + "set_agent(Second(greeting='hello'))\n"
    agent = load_agent_from_file(write(tmp_path, body), {"who": "bob"})
    assert type(agent).__name__ == "Second"
    assert agent.predict({"input": "x"}).output_text == "hello bob"


def test_imported_agent_classes_do_not_count_and_sibling_modules_import(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("SUFFIX = '!'\n")
    body = "import helpers\n" + AGENT.format(name="Local").replace('" " + str', "helpers.SUFFIX + str")
    agent = load_agent_from_file(write(tmp_path, body))
    assert agent.predict({"input": "x"}).output_text == "hi!None"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x = 1\n", "defines no ResponsesAgent subclass"),
        (AGENT.format(name="A") + AGENT.format(name="B"), "several ResponsesAgent subclasses (A, B)"),
        ("raise RuntimeError('no API key')\n", "raised RuntimeError while loading: no API key"),
        ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
        (
            BAD_INIT,
            "Bad() raised ValueError: boom",
        ),
        ("set_agent(42)\n", "set_agent() needs a ResponsesAgent instance"),
    ],
)
def test_a_file_that_cannot_give_one_agent_is_an_agent_load_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(AgentLoadError) as caught:
        load_agent_from_file(write(tmp_path, body))
    assert message in str(caught.value)


def test_a_missing_or_non_python_file_is_an_agent_load_error(tmp_path: Path) -> None:
    with pytest.raises(AgentLoadError, match="does not exist"):
        load_agent_from_file(tmp_path / "nope.py")
    (tmp_path / "agent.txt").write_text("")
    with pytest.raises(AgentLoadError, match="not a Python file"):
        load_agent_from_file(tmp_path / "agent.txt")


def test_each_load_is_a_fresh_agent(tmp_path: Path) -> None:
    path = write(tmp_path, AGENT.format(name="Greeter"))
    first, second = load_agent_from_file(path, {"who": 1}), load_agent_from_file(path, {"who": 2})
    assert first is not second and (first.config, second.config) == ({"who": 1}, {"who": 2})
    assert isinstance(first, ResponsesAgent)
