"""How the command line reports failures: exit codes and one-line messages on stderr."""

from __future__ import annotations

import sys

from tracelake.exceptions import ConfigError, InvalidArgumentError, NotFoundError, QueryError, TracelakeError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure the command line explains itself; the message is shown as is.

    Args:
        message: one line saying what went wrong and, where possible, what to do.
        exit_code: the process exit status (1 for failures, 2 for usage errors).
    """

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _one_line(text: str) -> str:
    # Filter strings may span lines; the message must stay one line for scripts reading stderr.
    return " ".join(part.strip() for part in text.splitlines()) or text


def report_error(exc: BaseException) -> int:
    """Print `exc` as one line on stderr and return the exit status it calls for."""
    if isinstance(exc, CliError):
        message, code = str(exc), exc.exit_code
    elif isinstance(exc, QueryError):
        message, code = f"invalid query: {exc}", EXIT_USAGE
    elif isinstance(exc, InvalidArgumentError):
        message, code = f"invalid argument: {exc}", EXIT_USAGE
    elif isinstance(exc, ConfigError):
        message, code = f"invalid configuration: {exc}", EXIT_USAGE
    elif isinstance(exc, NotFoundError):
        message, code = str(exc), EXIT_FAILURE
    elif isinstance(exc, TracelakeError | OSError):
        message, code = str(exc) or type(exc).__name__, EXIT_FAILURE
    else:
        message = f"unexpected {type(exc).__name__}: {exc} (run with --debug to see the traceback)"
        code = EXIT_FAILURE
    print(f"tracelake: error: {_one_line(message)}", file=sys.stderr)
    return code
