"""Authentication and permissions of the server (docs/auth.md).

`AuthMiddleware` authenticates every request and enforces `policy.POLICY` when the server's `auth`
setting is on; `routes` is the auth REST API and `pages` the UI's login, account and permissions
pages. The rows live in `tracelake.store.sql.auth`.
"""

from __future__ import annotations

from tracelake.server.auth.middleware import AuthMiddleware

__all__ = ["AuthMiddleware"]
