"""The web UI's pages and static files.

Every page is the same small server-rendered shell (`ui/templates/page.html`) naming the page and
its ids; the page's ES module then draws it from the public REST API, so the UI shows exactly what
API users get. Trace content is untrusted: the modules build the DOM with `textContent`, and every
UI response carries a Content-Security-Policy that allows only our own scripts and styles (no
inline script, no `eval`), so even a missed escape cannot run code.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib import resources
from string import Template
from typing import Annotated, Final

from fastapi import APIRouter, Path
from starlette.responses import RedirectResponse, Response

from tracelake.exceptions import NotFoundError
from tracelake.server.routes.traces import trace_id_of
from tracelake.version import __version__

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_MEDIA_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# Static paths are our own file names: no dots at the start of a part, so no "..", no hidden files.
_STATIC_PATH = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.(?:js|css|svg)")
# `import … from "./x.js"` in our ES modules: the static imports a page's module pulls in.
_STATIC_IMPORT = re.compile(r'^import\b[^;]*?\bfrom\s+"\./([a-z0-9_]+\.js)"', re.MULTILINE)

ExperimentId = Annotated[str, Path(pattern=r"^[0-9]{1,18}$")]


@cache
def _template() -> Template:
    return Template(resources.files("tracelake.ui").joinpath("templates/page.html").read_text("utf-8"))


@cache
def _static(path: str) -> bytes | None:
    resource = resources.files("tracelake.ui").joinpath("static", *path.split("/"))
    return resource.read_bytes() if resource.is_file() else None


@cache
def _module_preloads(page: str) -> str:
    """`<link rel="modulepreload">` for the page's module and every module it imports, transitively.

    `main.js` imports the page's module only when it runs, and each module's imports are found only
    when it is parsed: without these hints the browser fetches the modules in three or four rounds
    one after the other; with them, all at once with `main.js`.
    """
    seen: list[str] = []
    pending = [f"{page}.js"]
    while pending:
        name = pending.pop()
        source = _static(f"js/{name}")
        if name in seen or source is None:
            continue
        seen.append(name)
        pending.extend(_STATIC_IMPORT.findall(source.decode("utf-8")))
    return "\n".join(f'<link rel="modulepreload" href="/ui/static/js/{name}">' for name in seen)


def _page(page: str, title: str, experiment_id: str = "", trace_id: str = "") -> Response:
    body = _template().substitute(
        title=html.escape(title),
        page=page,
        preloads=_module_preloads(page),
        version=html.escape(__version__),
        experiment_id=html.escape(experiment_id),
        trace_id=html.escape(trace_id),
    )
    headers = dict(_SECURITY_HEADERS, **{"Cache-Control": "no-store"})
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/")
async def root() -> Response:
    """Send the browser to the experiments page."""
    return RedirectResponse("/ui/experiments", status_code=307)


@router.get("/ui")
@router.get("/ui/")
async def ui_root() -> Response:
    """Send the browser to the experiments page."""
    return RedirectResponse("/ui/experiments", status_code=307)


@router.get("/ui/experiments")
async def experiments_page() -> Response:
    """The experiments list."""
    return _page("experiments", "Experiments")


@router.get("/ui/experiments/{experiment_id}/traces")
async def explorer_page(experiment_id: ExperimentId) -> Response:
    """The trace explorer of one experiment."""
    return _page("explorer", "Traces", experiment_id=experiment_id)


@router.get("/ui/experiments/{experiment_id}/sessions")
async def sessions_page(experiment_id: ExperimentId) -> Response:
    """The sessions of one experiment."""
    return _page("sessions", "Sessions", experiment_id=experiment_id)


@router.get("/ui/experiments/{experiment_id}/dashboard")
async def dashboard_page(experiment_id: ExperimentId) -> Response:
    """The production dashboard of one experiment."""
    return _page("dashboard", "Dashboard", experiment_id=experiment_id)


@router.get("/ui/traces/{trace_id}")
async def trace_page(trace_id: str) -> Response:
    """One trace: span tree, timeline, span details, feedback and tags."""
    return _page("trace", "Trace", trace_id=trace_id_of(trace_id))


@router.get("/ui/static/{path:path}")
async def static(path: str) -> Response:
    """Serve the UI's own CSS and ES modules (never anything outside `tracelake/ui/static`)."""
    content = _static(path) if _STATIC_PATH.fullmatch(path) else None
    if content is None:
        raise NotFoundError(f"no UI file {path[:100]!r}")
    media_type = _MEDIA_TYPES[path[path.rindex(".") :]]
    headers = dict(_SECURITY_HEADERS, **{"Cache-Control": "no-cache"})
    return Response(content, media_type=media_type, headers=headers)
