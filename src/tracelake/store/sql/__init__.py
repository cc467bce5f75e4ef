"""The SQL index (SQLite or PostgreSQL through SQLAlchemy Core) and the store built on it."""

from __future__ import annotations

from tracelake.store.sql.store import SqlTraceStore

__all__ = ["SqlTraceStore"]
