"""What handlers get from the running app: the store, the settings and the ingest gate.

The dependencies are `async` so that FastAPI calls them on the event loop rather than paying a
thread hop each; they only read `app.state`.

`create_app`'s lifespan puts them on `app.state` (`store`, `settings`, `ingest_gate`,
`experiment_resolver`); routers
written elsewhere (assessments, metrics) may read `request.app.state.store` the same way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from tracelake.exceptions import StoreError
from tracelake.server.ingest import ExperimentResolver, IngestGate
from tracelake.server.rebalance import ConnectionRecycler
from tracelake.server.settings import ServerSettings
from tracelake.store import SqlTraceStore

__all__ = [
    "GateDep",
    "RecyclerDep",
    "ResolverDep",
    "SettingsDep",
    "StoreDep",
    "get_gate",
    "get_resolver",
    "get_settings",
    "get_store",
]


async def get_store(request: Request) -> SqlTraceStore:
    """Return the app's store; raise `StoreError` (503) outside the lifespan (not started or stopping)."""
    store: SqlTraceStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise StoreError("the server's store is not open (the server is starting or stopping)")
    return store


async def get_settings(request: Request) -> ServerSettings:
    """Return the settings the app was created with."""
    settings: ServerSettings = request.app.state.settings
    return settings


async def get_gate(request: Request) -> IngestGate:
    """Return the gate bounding OTLP requests in progress."""
    gate: IngestGate = request.app.state.ingest_gate
    return gate


async def get_resolver(request: Request) -> ExperimentResolver:
    """Return what remembers OTLP requests' experiments between requests."""
    resolver: ExperimentResolver = request.app.state.experiment_resolver
    return resolver


async def get_recycler(request: Request) -> ConnectionRecycler:
    """Return what asks OTLP senders to reconnect now and then (server processes share connections)."""
    recycler: ConnectionRecycler = request.app.state.connection_recycler
    return recycler


StoreDep = Annotated[SqlTraceStore, Depends(get_store)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
GateDep = Annotated[IngestGate, Depends(get_gate)]
ResolverDep = Annotated[ExperimentResolver, Depends(get_resolver)]
RecyclerDep = Annotated[ConnectionRecycler, Depends(get_recycler)]
