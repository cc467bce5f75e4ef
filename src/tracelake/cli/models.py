"""`tracelake models list | get | versions | set-alias | delete-alias | log`: the model registry.

The commands go through the configured backend: the embedded store (`--home`), a database
(`--tracking-uri sqlite:///…`), or a tracelake server (`--tracking-uri http://…`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_OK, CliError
from tracelake.cli._render import format_time
from tracelake.model import ModelVersion, RegisteredModel


def _registry(args: argparse.Namespace) -> Any:
    _sdk.configure(args)
    from tracelake.agents import registry

    return registry


def _print_json(items: list[dict[str, Any]]) -> None:
    for item in items:
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"@{alias} → {version}" for alias, version in sorted(aliases.items()))


def list_models(args: argparse.Namespace) -> int:
    """List the registered models with their latest version and aliases."""
    models: list[RegisteredModel] = _registry(args).list_registered_models()
    if args.json:
        _print_json([model.to_dict() for model in models])
        return EXIT_OK
    console = Console()
    if not models:
        console.print("No registered models. Log one with tracelake.agents.log_agent(...).")
        return EXIT_OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "latest", "aliases", "updated", "description"):
        table.add_column(column, no_wrap=column in ("name", "latest", "updated"), overflow="fold")
    for model in models:
        latest = "" if model.latest_version is None else str(model.latest_version)
        table.add_row(
            Text(model.name),
            latest,
            Text(_aliases(model.aliases)),
            format_time(model.last_update_time),
            Text(model.description or ""),
        )
    console.print(table)
    return EXIT_OK


def _versions_table(versions: list[ModelVersion]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("version", "aliases", "status", "created", "source", "description"):
        table.add_column(column, no_wrap=column in ("version", "status", "created"), overflow="fold")
    for version in versions:
        table.add_row(
            str(version.version),
            Text(", ".join(f"@{alias}" for alias in version.aliases)),
            version.status,
            format_time(version.creation_time),
            Text(version.source or ""),
            Text(version.description or ""),
        )
    return table


def versions(args: argparse.Namespace) -> int:
    """List a model's versions, newest first."""
    found: list[ModelVersion] = _registry(args).list_model_versions(args.name)
    if args.json:
        _print_json([version.to_dict() for version in found])
        return EXIT_OK
    console = Console()
    if not found:
        console.print(f"{args.name} has no versions yet.")
        return EXIT_OK
    console.print(_versions_table(found))
    return EXIT_OK


def get(args: argparse.Namespace) -> int:
    """Show a model (`NAME`) with its versions, or one version (`NAME/3`, `NAME@champion`)."""
    registry = _registry(args)
    if "/" in args.name or "@" in args.name:
        version: ModelVersion = registry.resolve_model(args.name)
        if args.json:
            _print_json([version.to_dict()])
            return EXIT_OK
        console = Console()
        console.print(Text(f"{version.name} version {version.version}", style="bold"))
        for label, value in (
            ("uri", version.uri),
            ("aliases", ", ".join(f"@{alias}" for alias in version.aliases)),
            ("status", version.status),
            ("created", format_time(version.creation_time)),
            ("source", version.source or ""),
            ("package", version.artifact_uri),
            ("description", version.description or ""),
            ("tags", ", ".join(f"{key}={value}" for key, value in sorted(version.tags.items()))),
        ):
            console.print(Text(f"  {label + ':':<13}{value}"))
        return EXIT_OK
    model: RegisteredModel = registry.get_registered_model(args.name)
    found: list[ModelVersion] = registry.list_model_versions(args.name)
    if args.json:
        _print_json([{**model.to_dict(), "versions": [version.to_dict() for version in found]}])
        return EXIT_OK
    console = Console()
    console.print(Text(model.name, style="bold"))
    console.print(Text(f"  latest version: {model.latest_version or '-'}"))
    console.print(Text(f"  aliases:        {_aliases(model.aliases) or '-'}"))
    if model.description:
        console.print(Text(f"  description:    {model.description}"))
    console.print()
    console.print(_versions_table(found))
    return EXIT_OK


def set_alias(args: argparse.Namespace) -> int:
    """Point an alias at a version."""
    version: ModelVersion = _registry(args).set_alias(args.name, args.alias, args.version)
    print(f"{version.name}@{args.alias} → version {version.version}")
    return EXIT_OK


def delete_alias(args: argparse.Namespace) -> int:
    """Remove an alias."""
    _registry(args).delete_alias(args.name, args.alias)
    print(f"Removed {args.name}@{args.alias}.")
    return EXIT_OK


def _json_file_or_text(value: str | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{what}: {value!r} is neither a JSON object nor a readable file ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{what}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{what}: expected a JSON object")
    return data


def log(args: argparse.Namespace) -> int:
    """Package, validate and register an agent as the model's next version."""
    registry = _registry(args)
    requirements: Any = args.requirements_file if args.requirements_file else (args.requirement or None)
    version: ModelVersion = registry.log_agent(
        args.name,
        code=args.code,
        requirements=requirements,
        config=_json_file_or_text(args.config, "--config"),
        input_example=_json_file_or_text(args.input_example, "--input-example"),
        description=args.description,
    )
    if args.json:
        _print_json([version.to_dict()])
    else:
        print(f"Logged {version.name} version {version.version} ({version.uri}).")
    return EXIT_OK


def load_registered_agent(args: argparse.Namespace, config: dict[str, Any] | None) -> tuple[Any, str, str]:
    """Load the registered version `--model` names, for `tracelake serve`.

    Returns:
        (the agent, its model name, its version number as a string), for the endpoint's metadata.
    """
    import tracelake
    from tracelake.agents.registry import download_agent

    # Reach the registry the endpoint reports to, without tracing: the endpoint configures that.
    tracelake.configure(home=args.home, tracking_uri=args.tracking_uri, enabled=False)
    local = download_agent(args.model, home=args.home)
    return local.load(config), local.version.name, str(local.version.version)
