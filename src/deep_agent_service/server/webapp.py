"""Extra HTTP routes mounted into the LangGraph server through `langgraph.json` `http.app`:
`/healthz`, `/whoami` and the web UI's static files at `/ui` (built from `web/` by `make web`), and
the edge middleware in front of every route (`edge`: body cap, operations endpoints for admins).

Its lifespan (merged into the server's by langgraph-api and Aegra) makes Aegra's HTTP store address
the service's namespaces (`tenancy/aegra_store.py`) and starts background jobs: the sandbox reaper,
which asks the server itself (in-process langgraph-sdk client) which threads still exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from langgraph_sdk import Auth
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from deep_agent_service import PROJECT_ROOT, __version__
from deep_agent_service.memory.mounts import MOUNTS
from deep_agent_service.server.body_guard import STORE_SEARCH, BodyGuard
from deep_agent_service.server.edge import EXCEPTION_HANDLERS, OperationsGate, RequestBodyLimit, operations_refusal
from deep_agent_service.server.files_guard import FILES_UPDATES
from deep_agent_service.server.operations import probe_sandbox_provider, probe_store
from deep_agent_service.settings import get_settings
from deep_agent_service.tenancy.aegra_store import address_service_namespaces
from deep_agent_service.tenancy.assistant_lookup import on_aegra
from deep_agent_service.tenancy.credentials import build_authenticator
from deep_agent_service.tenancy.identity import RunIdentity, Scope, namespace_for

_authenticate = build_authenticator(get_settings())


async def healthz(request: Request) -> JSONResponse:
    """Readiness for everyone (status, 200 or 503); the details (model, auth mode, probes) for admins
    or, with OPERATIONS_ENDPOINTS_OPEN=true, for everyone."""
    settings = get_settings()
    store = await probe_store()
    healthy = store["status"] == "ok"
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    show_details = settings.server.operations_endpoints_open or (
        await operations_refusal(_authenticate, dict(request.headers)) is None
    )
    if show_details:
        body |= {
            "version": __version__,
            "model": settings.models.primary_model,
            "auth_mode": settings.auth.mode,
            "server": {"status": "ok"},
            "store": store,
            "sandbox_provider": await probe_sandbox_provider(),
        }
    return JSONResponse(body, status_code=200 if healthy else 503)


async def info(request: Request) -> Response:
    """The server's own `/info`, behind credentials unless AUTH_MODE=local: clients check a key with it
    (Agent Chat UI does, before anything else), so a wrong key is refused here at once. langgraph-api
    exempts `/info` from auth but lets an http.app shadow it; this route does, and then answers as it."""
    if get_settings().auth.mode != "local":
        try:
            await _authenticate(dict(request.headers))
        except Auth.exceptions.HTTPException as error:
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
    try:
        from langgraph_api.api.meta import meta_info
    except ImportError:  # another Agent Protocol server (Aegra) mounted this app: say who we are
        return JSONResponse({"version": __version__, "flags": {}})
    response: Response = await meta_info(request)  # type: ignore[arg-type]
    return response


async def whoami(request: Request) -> JSONResponse:
    """The caller's verified identity and memory namespaces (custom routes skip the server's auth,
    so this one authenticates with the same code as every other request)."""
    try:
        principal = await _authenticate(dict(request.headers))
    except Auth.exceptions.HTTPException as error:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)
    who = RunIdentity(
        org=principal.org,
        user=principal.user,
        role=principal.role,
        assistant_id=request.query_params.get("assistant_id"),
    )
    scopes = [scope for scope in Scope if who.assistant_id or scope in (Scope.USER, Scope.ORG)]
    return JSONResponse(
        {
            "user": who.user,
            "org": who.org,
            "role": who.role,
            "namespaces": {scope.value: list(namespace_for(scope, who)) for scope in scopes},
            # What clients show as the agent's memory filesystem: each mount and where it lives.
            "mounts": [
                {
                    "name": mount.name,
                    "prefix": mount.prefix,
                    "scope": mount.scope.value,
                    "namespace": list(namespace_for(mount.scope, who)),
                    "agent_writable": mount.agent_writable,
                }
                for mount in MOUNTS.values()
                if mount.scope in scopes
            ],
        }
    )


WEB_DIST = PROJECT_ROOT / "web" / "dist"


async def ui_not_built(request: Request) -> Response:
    return PlainTextResponse(
        f"The web UI is not built ({WEB_DIST} has no index.html): run `make web` (needs Node.js 20+ and npm).",
        status_code=503,
    )


def ui_routes(dist: Path = WEB_DIST) -> list[BaseRoute]:
    """`/ui/` serves the built single-page app; its API calls go to this same server."""
    # Relative, so it stays right behind a proxy that terminates TLS or rewrites the host.
    redirect = Route(
        "/ui", lambda request: RedirectResponse("/ui/" + (f"?{request.url.query}" if request.url.query else ""))
    )
    if not (dist / "index.html").is_file():
        return [redirect, Route("/ui/{path:path}", ui_not_built)]
    return [redirect, Mount("/ui", app=StaticFiles(directory=dist, html=True), name="ui")]


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    from langgraph_sdk import get_client

    from deep_agent_service.sandboxes.reaper import periodic_reaper, reap_from_settings
    from deep_agent_service.sandboxes.registry import get_provider

    if on_aegra():
        address_service_namespaces()
    await asyncio.to_thread(
        get_provider, network=False
    )  # a sandbox misconfiguration (e.g. no bubblewrap) stops the server at start-up
    client = get_client()  # in-process: the server's own API, no network
    interval = get_settings().sandbox.reap_interval_seconds
    async with periodic_reaper(lambda: reap_from_settings(client), interval):
        yield


# FastAPI (a Starlette subclass): langgraph-api mounts any Starlette app, Aegra requires FastAPI.
# No docs routes of its own, so the server's /docs stays visible.
# Its middleware runs in front of every route of the server, the server's own included (server/edge.py).
app = FastAPI(
    routes=[Route("/healthz", healthz), Route("/whoami", whoami), Route("/info", info), *ui_routes()],
    middleware=[
        Middleware(RequestBodyLimit),
        Middleware(OperationsGate, authenticate=_authenticate),
        Middleware(BodyGuard, checks=(FILES_UPDATES, STORE_SEARCH), authenticate=_authenticate),
    ],
    exception_handlers=EXCEPTION_HANDLERS,
    lifespan=lifespan,
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
