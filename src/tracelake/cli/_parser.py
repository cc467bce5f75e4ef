"""The argument parser of `tracelake`: every command and option, and nothing heavier than argparse.

Each command stores its handler as `"module:function"` in `handler`; `tracelake.cli.main` imports it
only when that command runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from tracelake.cli._errors import EXIT_USAGE
from tracelake.version import __version__

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

_EPILOG = """examples:
  tracelake quickstart
  tracelake traces search --experiment quickstart --filter "status = 'ERROR'"
  tracelake traces get <trace-id>
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, pointing at `--help`."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def positive_int(text: str) -> int:
    """Parse a whole number greater than zero (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def duration_ms(text: str) -> int:
    """Parse a duration such as `30d`, `12h`, `15m`, `90s` or `2w` into milliseconds (argparse type)."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use a number and a unit, e.g. 30d, 12h, 15m")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _add_globals(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    # The options are accepted before and after the command; a nested copy must not override a
    # value given earlier with its default, hence SUPPRESS there.
    default = argparse.SUPPRESS if nested else None
    parser.add_argument(
        "--home",
        metavar="PATH",
        default=default,
        help="folder of the embedded store (default: $TRACELAKE_HOME or ./tracelake-data)",
    )
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        default=default,
        help="where traces live, instead of --home (default: $TRACELAKE_TRACKING_URI)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if nested else False,
        help="show the full traceback of unexpected errors",
    )


def _add_experiment_selector(parser: argparse.ArgumentParser, *, required: bool, many: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    action = "append" if many else "store"
    group.add_argument("--experiment", "-e", metavar="NAME", action=action, help="experiment name")
    group.add_argument("--experiment-id", metavar="ID", action=action, help="experiment id")


def _add_traces(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    traces = commands.add_parser("traces", parents=[common], help="search, show and delete traces")
    actions = traces.add_subparsers(title="commands", metavar="COMMAND", required=True)

    search = actions.add_parser("search", parents=[common], help="list traces matching a filter")
    _add_experiment_selector(search, required=False, many=True)
    search.add_argument("--filter", metavar="STR", help="filter string, e.g. \"status = 'ERROR' AND tokens > 100\"")
    search.add_argument(
        "--order-by", metavar="CLAUSE", action="append", help="sort clause, e.g. 'timestamp_ms DESC' (repeatable)"
    )
    search.add_argument("--max-results", metavar="N", type=positive_int, default=100, help="page size (default 100)")
    search.add_argument("--page-token", metavar="T", help="token printed by the previous page")
    search.add_argument("--json", action="store_true", help="print one JSON object per trace")
    search.set_defaults(handler="tracelake.cli.traces:search")

    get = actions.add_parser("get", parents=[common], help="show one trace and its span tree")
    get.add_argument("trace_id", metavar="TRACE_ID")
    get.add_argument("--json", action="store_true", help="print the whole trace as JSON")
    get.set_defaults(handler="tracelake.cli.traces:get")

    delete = actions.add_parser("delete", parents=[common], help="delete traces of an experiment")
    _add_experiment_selector(delete, required=True, many=False)
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--trace-id", metavar="ID", action="append", help="a trace to delete (repeatable)")
    which.add_argument("--older-than", metavar="DURATION", type=duration_ms, help="age, e.g. 30d, 12h, 15m")
    which.add_argument("--max-timestamp-ms", metavar="MS", type=int, help="delete traces started before this time")
    delete.add_argument("--max-traces", metavar="N", type=positive_int, help="delete at most N (oldest first)")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler="tracelake.cli.traces:delete")


def _tag(text: str) -> tuple[str, str]:
    """Parse a `KEY=VALUE` tag (argparse type)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _add_experiments(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    experiments = commands.add_parser("experiments", parents=[common], help="list, create, rename, delete experiments")
    actions = experiments.add_subparsers(title="commands", metavar="COMMAND", required=True)
    module = "tracelake.cli.experiments"

    list_ = actions.add_parser("list", parents=[common], help="list experiments")
    list_.add_argument("--include-deleted", action="store_true", help="list deleted experiments too")
    list_.add_argument("--json", action="store_true", help="print one JSON object per experiment")
    list_.set_defaults(handler=f"{module}:list_experiments")

    create = actions.add_parser("create", parents=[common], help="create an experiment")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--artifact-location", metavar="URI", help="folder or s3:// URI of payloads")
    create.add_argument("--retention-days", metavar="N", type=positive_int, help="delete traces older than N days")
    create.add_argument("--tag", metavar="KEY=VALUE", type=_tag, action="append", help="experiment tag (repeatable)")
    create.set_defaults(handler=f"{module}:create")

    rename = actions.add_parser("rename", parents=[common], help="rename an experiment")
    _add_experiment_selector(rename, required=True, many=False)
    rename.add_argument("new_name", metavar="NEW_NAME")
    rename.set_defaults(handler=f"{module}:rename")

    retention = actions.add_parser("set-retention", parents=[common], help="set how long traces are kept")
    _add_experiment_selector(retention, required=True, many=False)
    period = retention.add_mutually_exclusive_group(required=True)
    period.add_argument("--days", metavar="N", type=positive_int, help="delete traces older than N days")
    period.add_argument("--off", action="store_true", help="keep traces forever")
    retention.set_defaults(handler=f"{module}:set_retention_command")

    delete = actions.add_parser("delete", parents=[common], help="mark an experiment deleted (traces stay)")
    _add_experiment_selector(delete, required=True, many=False)
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=f"{module}:delete")

    enforce = actions.add_parser("enforce-retention", parents=[common], help="delete expired traces now")
    enforce.add_argument("--batch-size", metavar="N", type=positive_int, default=500, help="traces per transaction")
    enforce.set_defaults(handler=f"{module}:enforce_retention_command")


def _add_server(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    server = commands.add_parser("server", parents=[common], help="serve the REST API and the OTLP endpoint")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=5000, help="port to listen on, 0 for any free one (default 5000)")
    server.add_argument(
        "--database",
        metavar="URL",
        help="postgresql://…, sqlite:///… or a folder (default: the embedded store in --home)",
    )
    server.add_argument(
        "--artifacts", metavar="PATH_OR_URI", help="default artifact root for payloads (default: <home>/artifacts)"
    )
    server.add_argument(
        "--allowed-artifact-root",
        metavar="PATH_OR_URI",
        action="append",
        help="where clients may place experiments' artifact locations (repeatable; default: --artifacts)",
    )
    server.add_argument("--workers", metavar="N", type=positive_int, default=1, help="server processes (default 1)")
    server.add_argument(
        "--max-body-bytes", metavar="N", type=positive_int, help="largest request body (default 32 MiB)"
    )
    server.add_argument(
        "--ingest-queue", metavar="N", type=positive_int, help="OTLP requests in progress before 429 (default 16)"
    )
    server.set_defaults(handler="tracelake.cli.server:run")

    db = commands.add_parser("db", parents=[common], help="manage the database schema")
    actions = db.add_subparsers(title="commands", metavar="COMMAND", required=True)
    upgrade = actions.add_parser("upgrade", parents=[common], help="migrate the database to the newest schema")
    upgrade.add_argument("--database", metavar="URL", help="database URL or folder (default: the embedded store)")
    upgrade.set_defaults(handler="tracelake.cli.db:upgrade")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole `tracelake` command line."""
    parser = _Parser(
        prog="tracelake",
        description="tracelake: tracing for GenAI agents.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tracelake {__version__}")
    _add_globals(parser, nested=False)
    common = _Parser(add_help=False)
    _add_globals(common, nested=True)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    quickstart = commands.add_parser(
        "quickstart", parents=[common], help="trace an example agent against a local LLM stub, offline"
    )
    quickstart.add_argument("--experiment", "-e", metavar="NAME", default="quickstart", help="default: quickstart")
    quickstart.add_argument("--traces", metavar="N", type=positive_int, default=6, help="requests to run (default 6)")
    quickstart.set_defaults(handler="tracelake.cli.quickstart:run")

    _add_traces(commands, common)
    _add_server(commands, common)
    _add_experiments(commands, common)

    version = commands.add_parser("version", parents=[common], help="print the installed version")
    version.set_defaults(handler="tracelake.cli._version:run")
    return parser
