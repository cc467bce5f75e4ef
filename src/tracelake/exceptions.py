"""The errors tracelake raises.

    TracelakeError
    ├── ConfigError        a bad argument or TRACELAKE_* variable (names it)
    ├── StoreError         the store could not do what was asked
    │   ├── NotFoundError  no such experiment or trace
    │   ├── ConflictError  the name or id is taken
    │   └── InvalidArgumentError  the input itself is wrong (also a ConfigError; HTTP 400)
    └── QueryError         a filter or order-by string is wrong (says what and where)

Tracing itself never raises into an application: these reach the caller only from explicit calls
such as `search_traces`, `configure` or `set_experiment`.
"""

from __future__ import annotations


class TracelakeError(Exception):
    """Root of every error tracelake raises."""


class ConfigError(TracelakeError):
    """A configuration value is invalid; the message names the argument or variable."""


class StoreError(TracelakeError):
    """The store failed; driver errors are wrapped in this, never leaked."""


class NotFoundError(StoreError):
    """The experiment or trace does not exist."""


class ConflictError(StoreError):
    """The experiment name (or another unique key) is already taken."""


class InvalidArgumentError(StoreError, ConfigError):
    """An argument given to the store is invalid (a bad id, name, tag key or artifact location).

    Unlike other store errors it will not succeed on retry: servers answer it with 400, not 503.
    """


class QueryError(TracelakeError):
    """A filter string or order-by clause is invalid.

    Attributes:
        position: zero-based character offset in the string where the problem starts, if known.
    """

    def __init__(self, message: str, position: int | None = None, text: str | None = None) -> None:
        self.position = position
        self.text = text
        if position is not None and text is not None:
            message = f"{message} (at position {position}: {text[:position]}<HERE>{text[position:]})"
        elif position is not None:
            message = f"{message} (at position {position})"
        super().__init__(message)
