"""The `tracelake` command line: entry point, dispatch and error reporting.

Startup stays fast because only argparse is imported here: each command names its handler as
`"module:function"` and the module (with the SDK, the store and rich behind it) is imported only
when that command runs. Every failure ends as one line on stderr and a non-zero exit status, never
a traceback (unless `--debug` asks for one).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from tracelake.cli._errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError, report_error
from tracelake.cli._parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tracelake` command line with `argv` (default: `sys.argv[1:]`) and return the exit status.

    Args:
        argv: the arguments after the program name.

    Returns:
        0 on success, 1 when the command failed, 2 for a usage error (bad arguments or filter),
        130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits for --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler_path: str | None = getattr(args, "handler", None)
    if handler_path is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    module_name, _, function_name = handler_path.partition(":")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        status: int = handler(args)
        return status
    except KeyboardInterrupt:
        print("tracelake: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug and not isinstance(exc, CliError):
            raise
        return report_error(exc)
