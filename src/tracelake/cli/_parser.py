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
    traces = commands.add_parser("traces", parents=[common], help="search, show, delete and reprice traces")
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

    recompute = actions.add_parser(
        "recompute-cost", parents=[common], help="price stored LLM spans again after prices changed (docs/cost.md)"
    )
    _add_experiment_selector(recompute, required=True, many=False)
    recompute.add_argument("--since", metavar="DURATION", type=duration_ms, help="only traces of the last 7d, 12h, …")
    recompute.add_argument(
        "--prices-file",
        metavar="PATH",
        help="prices to apply to a local store (default: $TRACELAKE_PRICES_FILE; a server uses its own)",
    )
    recompute.set_defaults(handler="tracelake.cli.cost:recompute")


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
    server.add_argument(
        "--workers",
        metavar="N",
        type=positive_int,
        help="server processes sharing the port (default: one per CPU, at most 4)",
    )
    server.add_argument(
        "--max-body-bytes", metavar="N", type=positive_int, help="largest request body (default 32 MiB)"
    )
    server.add_argument(
        "--ingest-queue", metavar="N", type=positive_int, help="OTLP requests in progress before 429 (default 16)"
    )
    server.add_argument(
        "--ingest-concurrency",
        metavar="N",
        type=positive_int,
        help="OTLP requests a server process decodes and writes at once (default 1 on SQLite, 4 on PostgreSQL)",
    )
    server.add_argument(
        "--auth", action="store_true", help="require sign-in and check permissions (default off on 127.0.0.1 only)"
    )
    server.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback address without authentication (anyone who can connect can read and write)",
    )
    server.set_defaults(handler="tracelake.cli.server:run")

    db = commands.add_parser("db", parents=[common], help="manage the database schema")
    actions = db.add_subparsers(title="commands", metavar="COMMAND", required=True)
    upgrade = actions.add_parser("upgrade", parents=[common], help="migrate the database to the newest schema")
    upgrade.add_argument("--database", metavar="URL", help="database URL or folder (default: the embedded store)")
    upgrade.set_defaults(handler="tracelake.cli.db:upgrade")


def _add_serve(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="serve an agent as an endpoint (OpenAI Responses API), in the foreground"
    )
    # What to serve: one of these (the registry adds a registered model version here).
    source = serve.add_mutually_exclusive_group(required=True)
    source.add_argument("--agent-file", metavar="PATH", help="the agent's code file (a ResponsesAgent subclass)")
    source.add_argument("--model", metavar="URI", help="a registered agent version: models:/NAME/3, NAME@champion")
    serve.add_argument("--config", metavar="JSON_FILE", help="JSON object given to the agent as self.config")
    serve.add_argument("--endpoint-name", metavar="NAME", required=True, help="the endpoint's name, on every trace")
    _add_experiment_selector(serve, required=False, many=False)
    serve.add_argument("--model-name", metavar="NAME", help="registered model served (trace metadata model_name)")
    serve.add_argument("--model-version", metavar="VERSION", help="its version (trace metadata model_version)")
    serve.add_argument("--environment", default="production", help="trace metadata environment (default production)")
    serve.add_argument("--no-tracing", action="store_true", help="answer requests without recording traces")
    serve.add_argument(
        "--max-threads",
        type=positive_int,
        default=100,
        metavar="N",
        help="sync agent calls running at once on worker threads (default 100)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on, 0 for any free one (default 8000)")
    serve.set_defaults(handler="tracelake.cli.serve:run")


def _add_models(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    models = commands.add_parser("models", parents=[common], help="the agent registry: models, versions, aliases")
    actions = models.add_subparsers(title="commands", metavar="COMMAND", required=True)
    module = "tracelake.cli.models"

    list_ = actions.add_parser("list", parents=[common], help="list registered models")
    list_.add_argument("--json", action="store_true", help="print one JSON object per model")
    list_.set_defaults(handler=f"{module}:list_models")

    get = actions.add_parser("get", parents=[common], help="show a model and its versions, or one version")
    get.add_argument("name", metavar="NAME", help="catalog.schema.name, or NAME/3, NAME@champion")
    get.add_argument("--json", action="store_true", help="print JSON")
    get.set_defaults(handler=f"{module}:get")

    versions = actions.add_parser("versions", parents=[common], help="list a model's versions, newest first")
    versions.add_argument("name", metavar="NAME", help="catalog.schema.name")
    versions.add_argument("--json", action="store_true", help="print one JSON object per version")
    versions.set_defaults(handler=f"{module}:versions")

    alias = actions.add_parser("set-alias", parents=[common], help="point an alias (e.g. champion) at a version")
    alias.add_argument("name", metavar="NAME", help="catalog.schema.name")
    alias.add_argument("alias", metavar="ALIAS")
    alias.add_argument("version", metavar="VERSION", type=positive_int)
    alias.set_defaults(handler=f"{module}:set_alias")

    unalias = actions.add_parser("delete-alias", parents=[common], help="remove an alias")
    unalias.add_argument("name", metavar="NAME", help="catalog.schema.name")
    unalias.add_argument("alias", metavar="ALIAS")
    unalias.set_defaults(handler=f"{module}:delete_alias")

    log = actions.add_parser("log", parents=[common], help="package, validate and register an agent as a new version")
    log.add_argument("name", metavar="NAME", help="catalog.schema.name")
    log.add_argument("--code", metavar="PATH", nargs="+", required=True, help="agent file, then other files/folders")
    requirements = log.add_mutually_exclusive_group()
    requirements.add_argument(
        "--requirement", "-r", metavar="REQ", action="append", help="a pip requirement (repeatable)"
    )
    requirements.add_argument("--requirements-file", metavar="PATH", help="a requirements.txt")
    log.add_argument("--config", metavar="JSON_OR_FILE", help="the agent's config: a JSON object or a .json file")
    log.add_argument("--input-example", metavar="JSON_OR_FILE", help="a Responses request the agent must answer")
    log.add_argument("--description", metavar="TEXT", help="stored with the version")
    log.add_argument("--json", action="store_true", help="print the new version as JSON")
    log.set_defaults(handler=f"{module}:log")


def _add_endpoints(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    module = "tracelake.cli.endpoints"
    deploy = commands.add_parser(
        "deploy", parents=[common], help="start a serving endpoint for a registered agent version (in the background)"
    )
    deploy.add_argument("model", metavar="MODEL", help="NAME@champion, NAME/3 or models:/NAME/3")
    deploy.add_argument("--endpoint-name", metavar="NAME", required=True, help="the endpoint's name, on every trace")
    deploy.add_argument("--experiment", "-e", metavar="NAME", required=True, help="experiment receiving its traces")
    deploy.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    deploy.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    deploy.add_argument("--replace", action="store_true", help="stop a running endpoint of the same name first")
    deploy.add_argument("--env", metavar="KEY=VALUE", action="append", help="environment variable for the endpoint")
    deploy.add_argument("--timeout", metavar="S", type=float, default=60.0, help="seconds to wait for it (default 60)")
    deploy.add_argument("--json", action="store_true", help="print the endpoint as JSON")
    deploy.set_defaults(handler=f"{module}:deploy")

    endpoints = commands.add_parser("endpoints", parents=[common], help="list, stop and read logs of endpoints")
    actions = endpoints.add_subparsers(title="commands", metavar="COMMAND", required=True)
    list_ = actions.add_parser("list", parents=[common], help="list the endpoints deployed from this home")
    list_.add_argument("--json", action="store_true", help="print one JSON object per endpoint")
    list_.set_defaults(handler=f"{module}:list_endpoints")

    stop = actions.add_parser("stop", parents=[common], help="stop an endpoint")
    stop.add_argument("name", metavar="NAME")
    stop.add_argument("--timeout", metavar="S", type=float, default=30.0, help="seconds before SIGKILL (default 30)")
    stop.add_argument(
        "--keep-service-principal",
        action="store_true",
        help="forget the endpoint without deleting its service principal on the server (e.g. the server is gone)",
    )
    stop.set_defaults(handler=f"{module}:stop")

    logs = actions.add_parser("logs", parents=[common], help="print an endpoint's log")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", metavar="N", type=positive_int, help="only the last N lines")
    logs.set_defaults(handler=f"{module}:logs")


def _add_archive(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    module = "tracelake.cli.archive"
    archive = commands.add_parser("archive", parents=[common], help="archive traces to Delta Lake tables")
    actions = archive.add_subparsers(title="commands", metavar="COMMAND", required=True)

    enable = actions.add_parser("enable", parents=[common], help="archive an experiment to a folder or s3:// URI")
    _add_experiment_selector(enable, required=True, many=False)
    enable.add_argument("--location", metavar="URI", required=True, help="folder or s3://bucket/prefix of the tables")
    enable.add_argument(
        "--interval", metavar="DURATION", type=duration_ms, default=900_000, help="sync period, e.g. 30s, 15m (default)"
    )
    enable.set_defaults(handler=f"{module}:enable")

    disable = actions.add_parser("disable", parents=[common], help="stop archiving an experiment (tables stay)")
    _add_experiment_selector(disable, required=True, many=False)
    disable.set_defaults(handler=f"{module}:disable")

    sync = actions.add_parser("sync", parents=[common], help="sync an experiment's archive now, with progress")
    _add_experiment_selector(sync, required=True, many=False)
    sync.add_argument("--backfill", action="store_true", help="take every change up to now (no settle window)")
    sync.add_argument("--batch-size", metavar="N", type=positive_int, default=2000, help="traces per Delta commit")
    sync.set_defaults(handler=f"{module}:sync")

    status = actions.add_parser("status", parents=[common], help="lag, last sync, errors and rows per experiment")
    _add_experiment_selector(status, required=False, many=False)
    status.add_argument("--json", action="store_true", help="print one JSON object per experiment")
    status.set_defaults(handler=f"{module}:status")

    monitor = commands.add_parser("monitor", parents=[common], help="run archive syncs and scorers on schedule")
    monitor.add_argument("--tick", metavar="SECONDS", type=float, default=1.0, help="pause between rounds (default 1)")
    monitor.add_argument("--once", action="store_true", help="run what is due once, then exit")
    monitor.set_defaults(handler=f"{module}:monitor")

    sql = commands.add_parser("sql", parents=[common], help="query an experiment's archive with DuckDB")
    sql.add_argument("query", metavar="SQL", help='e.g. "SELECT state, count(*) FROM traces GROUP BY 1"')
    _add_experiment_selector(sql, required=True, many=False)
    sql.add_argument("--json", action="store_true", help="print one JSON object per row")
    sql.set_defaults(handler=f"{module}:sql")


def _add_auth(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    module = "tracelake.cli.auth"
    users = commands.add_parser("users", parents=[common], help="manage the server's users (on its database)")
    actions = users.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, help_text in (
        ("create-admin", "create an admin user (the first one, at first start)"),
        ("create", "create a user"),
        ("set-password", "change a user's password (ends its UI sessions)"),
    ):
        command = actions.add_parser(name, parents=[common], help=help_text)
        command.add_argument("username", metavar="USERNAME")
        command.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        command.add_argument("--database", metavar="URL", help="database URL or folder (default: the embedded store)")
        if name == "create":
            command.add_argument("--admin", action="store_true", help="make the user an admin")
        command.set_defaults(handler=f"{module}:{name.replace('-', '_')}")
    list_ = actions.add_parser("list", parents=[common], help="list users and service principals")
    list_.add_argument("--database", metavar="URL", help="database URL or folder (default: the embedded store)")
    list_.set_defaults(handler=f"{module}:list_users")
    token = actions.add_parser("create-token", parents=[common], help="create a personal access token for a user")
    token.add_argument("username", metavar="USERNAME")
    token.add_argument("--name", default="cli", help="a name to tell the token apart (default: cli)")
    token.add_argument("--expires-in", metavar="DURATION", type=duration_ms, help="e.g. 30d (default: never)")
    token.add_argument("--database", metavar="URL", help="database URL or folder (default: the embedded store)")
    token.set_defaults(handler=f"{module}:create_token")
    for name, help_text in (
        ("disable", "disable a user: its sessions and tokens stop working at once"),
        ("enable", "enable a disabled user again"),
        ("set-admin", "give a user admin rights (--remove: take them away)"),
    ):
        command = actions.add_parser(name, parents=[common], help=help_text)
        command.add_argument("username", metavar="USERNAME")
        command.add_argument(
            "--database", metavar="URL", help="database URL or folder (default: the server of --tracking-uri, or home)"
        )
        if name == "set-admin":
            command.add_argument("--remove", action="store_true", help="take the user's admin rights away")
        command.set_defaults(handler=f"{module}:{name.replace('-', '_')}")

    permissions = commands.add_parser(
        "permissions", parents=[common], help="grant and revoke permissions on a server (--tracking-uri http://…)"
    )
    actions = permissions.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, help_text in (
        ("list", "list who holds which level on an experiment or registered model"),
        ("grant", "give a user or service principal a level"),
        ("revoke", "take a principal's level away"),
    ):
        command = actions.add_parser(name, parents=[common], help=help_text)
        target = command.add_mutually_exclusive_group(required=True)
        target.add_argument("--experiment-id", metavar="ID", help="the experiment")
        target.add_argument("--model", metavar="NAME", help="the registered model (catalog.schema.name)")
        if name != "list":
            command.add_argument("principal", metavar="PRINCIPAL", help="a username or a service principal's client id")
        if name == "grant":
            command.add_argument("level", choices=("CAN_READ", "CAN_EDIT", "CAN_MANAGE"))
        command.set_defaults(handler=f"{module}:permissions_{name}")


def _add_scorers(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    scorers = commands.add_parser("scorers", parents=[common], help="registered scorers: status, start, stop, backfill")
    actions = scorers.add_subparsers(title="commands", metavar="COMMAND", required=True)
    module = "tracelake.cli.scorers"

    list_ = actions.add_parser("list", parents=[common], help="list registered scorers")
    list_.add_argument("--experiment", "-e", metavar="NAME", help="only this experiment's")
    list_.add_argument("--json", action="store_true", help="print one JSON object per scorer")
    list_.set_defaults(handler=f"{module}:list_command")

    status = actions.add_parser("status", parents=[common], help="runs by status, the hour's usage, last error")
    status.add_argument("name", metavar="NAME", nargs="?", help="one scorer (default: all of the experiment)")
    status.add_argument("--experiment", "-e", metavar="NAME", required=True)
    status.add_argument("--json", action="store_true", help="print one JSON object per scorer")
    status.set_defaults(handler=f"{module}:status")

    for action, text in (("start", "resume a stopped scorer"), ("stop", "pause a scorer")):
        command = actions.add_parser(action, parents=[common], help=text)
        command.add_argument("name", metavar="NAME")
        command.add_argument("--experiment", "-e", metavar="NAME", required=True)
        command.set_defaults(handler=f"{module}:{action}")

    register = actions.add_parser("register", parents=[common], help="register a built-in LLM judge on an experiment")
    register.add_argument("judge", metavar="JUDGE", help="Safety, RelevanceToQuery, Guidelines, Correctness, …")
    register.add_argument("--experiment", "-e", metavar="NAME", required=True)
    register.add_argument("--name", metavar="NAME", help="the scorer's name (default: the judge's, e.g. safety)")
    register.add_argument("--guideline", metavar="TEXT", action="append", help="a guideline (Guidelines; repeatable)")
    register.add_argument("--model", metavar="MODEL", help="the judge model (default: TRACELAKE_JUDGE_MODEL)")
    register.add_argument("--param", metavar="KEY=JSON", action="append", help="another judge parameter")
    register.add_argument("--sample-rate", metavar="R", type=float, default=1.0, help="0.0 to 1.0 (default 1)")
    register.add_argument("--filter", metavar="STR", help="only traces matching this filter")
    register.add_argument("--max-calls-per-hour", metavar="N", type=positive_int, help="budget: traces per hour")
    register.add_argument("--max-cost-per-hour", metavar="USD", type=float, help="budget: judge cost per hour")
    register.set_defaults(handler=f"{module}:register")

    update = actions.add_parser("update", parents=[common], help="change a scorer's sample rate, filter or budget")
    update.add_argument("name", metavar="NAME")
    update.add_argument("--experiment", "-e", metavar="NAME", required=True)
    update.add_argument("--sample-rate", metavar="R", type=float, help="0.0 to 1.0")
    update.add_argument("--filter", metavar="STR", help="only traces matching this filter ('' removes it)")
    update.add_argument("--max-calls-per-hour", metavar="N", type=positive_int, help="budget: traces per hour")
    update.add_argument("--max-cost-per-hour", metavar="USD", type=float, help="budget: judge cost per hour")
    update.add_argument("--no-budget", action="store_true", help="remove the hourly limits")
    update.set_defaults(handler=f"{module}:update")

    delete = actions.add_parser("delete", parents=[common], help="delete a registration (its assessments stay)")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--experiment", "-e", metavar="NAME", required=True)
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=f"{module}:delete")

    backfill = actions.add_parser("backfill", parents=[common], help="judge past traces, with a progress bar")
    backfill.add_argument("name", metavar="NAME")
    backfill.add_argument("--experiment", "-e", metavar="NAME", required=True)
    backfill.add_argument(
        "--since", metavar="DURATION", type=duration_ms, default=duration_ms("7d"), help="how far back (default 7d)"
    )
    backfill.add_argument("--concurrency", metavar="N", type=positive_int, help="scorer calls in flight at once")
    backfill.set_defaults(handler=f"{module}:backfill_command")


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
    _add_serve(commands, common)
    _add_models(commands, common)
    _add_endpoints(commands, common)
    _add_archive(commands, common)
    _add_auth(commands, common)
    _add_scorers(commands, common)

    version = commands.add_parser("version", parents=[common], help="print the installed version")
    version.set_defaults(handler="tracelake.cli._version:run")
    return parser
