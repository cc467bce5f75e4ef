"""`create_app(settings)`: the ASGI app of `tracelake server`, built fresh for every call.

Nothing is created at import: the store is opened (and its database migrated) by the app's
lifespan and closed when it ends, so tests build one app per test and several apps can live in one
process.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tracelake.server.auth import AuthMiddleware
from tracelake.server.errors import install_error_handlers
from tracelake.server.ingest import ExperimentResolver, IngestGate
from tracelake.server.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from tracelake.server.rebalance import ConnectionRecycler
from tracelake.server.responses import JsonResponse
from tracelake.server.routes import experiments, otlp, traces
from tracelake.server.settings import SETTINGS_ENV, ServerSettings
from tracelake.store import SqlTraceStore
from tracelake.store.retention import RetentionWorker
from tracelake.version import __version__

__all__ = ["create_app", "create_app_from_environment"]

logger = logging.getLogger("tracelake.server")

#: Routers written in other modules, included when present (each module exposes `router`).
OPTIONAL_ROUTERS: Final = (
    "tracelake.server.routes.archive",
    "tracelake.server.routes.assessments",
    "tracelake.server.routes.costs",
    "tracelake.server.routes.metrics",
    "tracelake.server.routes.registry",
    "tracelake.server.routes.scorers",
    "tracelake.server.routes.sessions",
    "tracelake.server.routes.spans",
    "tracelake.server.routes.stats",
    "tracelake.server.routes.ui",
    "tracelake.server.auth.routes",
    "tracelake.server.auth.pages",
)


def _optional_router(module_name: str) -> APIRouter | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise  # the module exists but something it needs is missing: that is a real error
    router: APIRouter = module.router
    return router


def _health_router() -> APIRouter:
    router = APIRouter(tags=["Health"])

    @router.get("/health", summary="Liveness")
    async def health() -> Response:
        """Answer while the server is up."""
        return JsonResponse({"status": "ok", "version": __version__})

    return router


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the tracelake server app: REST API, OTLP endpoint, OpenAPI document.

    Args:
        settings: where the store is and how the server behaves.

    Returns:
        An ASGI app. Its lifespan opens the store (migrating the database) and closes it.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await run_in_threadpool(
            SqlTraceStore, settings.database_url, settings.default_artifact_root, settings.allowed_artifact_roots
        )
        app.state.store = store
        app.state.experiment_resolver.clear()
        app.state.ingest_gate.set_concurrency(settings.ingest_concurrency_for(store.dialect_name))
        if settings.freeze_gc:
            gc.freeze()
        # Every replica enforces retention; deletes are idempotent and batched, so that is harmless.
        retention = None
        if settings.retention_interval_s > 0:
            retention = RetentionWorker(store, interval_s=settings.retention_interval_s)
            retention.start()
        try:
            yield
        finally:
            if retention is not None:
                await run_in_threadpool(retention.stop, 30.0)
            app.state.store = None
            await run_in_threadpool(store.close)

    app = FastAPI(
        title="tracelake",
        version=__version__,
        summary="Tracing for GenAI agents: REST API and OTLP endpoint.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = None
    app.state.ingest_gate = IngestGate(settings.ingest_queue_size)
    app.state.experiment_resolver = ExperimentResolver()
    app.state.connection_recycler = ConnectionRecycler(settings.reconnect_after_requests_or_default())
    install_error_handlers(app, settings.retry_after_seconds)
    # Innermost: authentication and permissions run on bodies already within the size limit.
    app.add_middleware(AuthMiddleware)
    # Added last = outermost: every response, 413s included, carries the request id.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)

    app.include_router(_health_router())
    app.include_router(otlp.router)
    app.include_router(experiments.router)
    app.include_router(traces.router)
    for module_name in OPTIONAL_ROUTERS:
        router = _optional_router(module_name)
        if router is not None:
            app.include_router(router)
    return app


def create_app_from_environment() -> FastAPI:
    """Build the app from the settings `tracelake server` left in the environment (worker processes).

    Raises:
        ConfigError: the environment holds no settings.
    """
    from tracelake.exceptions import ConfigError

    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise ConfigError(f"{SETTINGS_ENV} is not set: start workers with `tracelake server --workers N`")
    return create_app(ServerSettings.from_json(text))
