from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracelake.cli import main
from tracelake.cli._errors import CliError, report_error
from tracelake.cli._parser import build_parser, duration_ms, positive_int
from tracelake.exceptions import ConfigError, NotFoundError, QueryError
from tracelake.version import __version__

if TYPE_CHECKING:
    from tests.cli.conftest import Cli

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("15m", 900_000), ("12h", 43_200_000), ("30d", 2_592_000_000), (" 2w ", 1_209_600_000)],
)
def test_duration_ms(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "30", "d", "1.5h", "-3d", "3y"])
def test_duration_ms_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid duration"):
        duration_ms(text)


def test_positive_int() -> None:
    assert positive_int("7") == 7
    for bad in ("0", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


def test_global_options_go_before_or_after_the_command() -> None:
    parser = build_parser()

    before = parser.parse_args(["--home", "a", "traces", "search"])
    after = parser.parse_args(["traces", "search", "--home", "b", "--tracking-uri", "sqlite:///x.db"])
    both = parser.parse_args(["--home", "a", "traces", "get", "t1"])

    assert (before.home, before.tracking_uri, before.debug) == ("a", None, False)
    assert (after.home, after.tracking_uri) == ("b", "sqlite:///x.db")
    assert (both.home, both.trace_id) == ("a", "t1")


def test_commands_name_lazy_handlers() -> None:
    parser = build_parser()

    assert parser.parse_args(["quickstart"]).handler == "tracelake.cli.quickstart:run"
    assert parser.parse_args(["traces", "delete", "-e", "x", "--older-than", "1d"]).older_than == 86_400_000
    assert parser.parse_args(["traces", "search", "-e", "a", "-e", "b"]).experiment == ["a", "b"]


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "quickstart" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith(f"tracelake {__version__} (Python ")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tracelake {__version__}"


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "delete", "--help"]) == 0
    assert "--older-than DURATION" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (QueryError("unexpected end", position=17, text="status = 'ERROR' AND"), 2, "invalid query: unexpected end"),
        (ConfigError("TRACELAKE_SAMPLING_RATIO='x' is invalid"), 2, "invalid configuration: TRACELAKE_SAMPLING"),
        (NotFoundError("no trace 'abc'"), 1, "error: no trace 'abc'"),
        (CliError("refusing", 2), 2, "error: refusing"),
        (PermissionError("denied"), 1, "error: denied"),
        (RuntimeError("boom\nsecond line"), 1, "unexpected RuntimeError: boom second line (run with --debug"),
    ],
)
def test_errors_are_reported_on_one_line(
    capsys: pytest.CaptureFixture[str], error: Exception, code: int, message: str
) -> None:
    assert report_error(error) == code
    err = capsys.readouterr().err
    assert err.startswith("tracelake: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_version_command_stays_light() -> None:
    # The CLI must start fast: `version` imports neither the store stack nor rich.
    code = (
        "import sys; from tracelake.cli import main; main(['version']);"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'rich', 'httpx', 'tracelake.store') if m in sys.modules];"
        "print(heavy)"
    )
    env = os.environ | {"PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)

    assert result.stdout.splitlines()[-1] == "[]"


def test_console_script(tmp_path: Path, cli: Cli) -> None:
    script = Path(sys.executable).parent / "tracelake"
    if not script.exists():
        pytest.skip("the package is not installed in this environment (pip install -e .)")

    result = subprocess.run([str(script), "--home", str(tmp_path), "version"], capture_output=True, text=True)

    assert result.returncode == 0
    assert result.stdout.startswith("tracelake ")


def test_module_entry_point(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "version")

    assert (result.code, result.stderr) == (0, "")
    assert result.stdout.startswith(f"tracelake {__version__}")
