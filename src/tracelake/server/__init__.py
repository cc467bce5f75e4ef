"""`tracelake server`: the REST API and the OTLP endpoint, one ASGI app over the store.

>>> from tracelake.server import ServerSettings, create_app
>>> app = create_app(ServerSettings.for_home("./tracelake-data"))

Nothing imports this package but the CLI: `import tracelake` never loads FastAPI.
"""

from __future__ import annotations

from tracelake.server.app import create_app
from tracelake.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
