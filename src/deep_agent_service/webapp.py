"""Extra HTTP routes mounted into the LangGraph server through `langgraph.json` `http.app`.

Its lifespan (merged into the server's by langgraph-api) starts background jobs: the sandbox
reaper, which asks the server itself (in-process langgraph-sdk client) which threads still exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from langgraph_sdk import Auth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deep_agent_service import __version__
from deep_agent_service.credentials import build_authenticator
from deep_agent_service.identity import RunIdentity, Scope, namespace_for
from deep_agent_service.operations import probe_sandbox_provider, probe_store
from deep_agent_service.settings import get_settings


async def healthz(request: Request) -> JSONResponse:
    settings = get_settings()
    store = await probe_store()
    healthy = store["status"] == "ok"
    return JSONResponse(
        {
            "status": "ok" if healthy else "degraded",
            "version": __version__,
            "model": settings.primary_model,
            "auth_mode": settings.auth_mode,
            "server": {"status": "ok"},
            "store": store,
            "sandbox_provider": await probe_sandbox_provider(),
        },
        status_code=200 if healthy else 503,
    )


_authenticate = build_authenticator(get_settings())


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
        }
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    from langgraph_sdk import get_client

    from deep_agent_service.sandboxes.reaper import periodic_reaper, reap_from_settings
    from deep_agent_service.sandboxes.registry import get_provider

    await asyncio.to_thread(
        get_provider, network=False
    )  # a sandbox misconfiguration (e.g. no bubblewrap) stops the server at start-up
    client = get_client()  # in-process: the server's own API, no network
    interval = get_settings().sandbox_reap_interval_seconds
    async with periodic_reaper(lambda: reap_from_settings(client), interval):
        yield


# FastAPI (a Starlette subclass): langgraph-api mounts any Starlette app, Aegra requires FastAPI.
# No docs routes of its own, so the server's /docs stays visible.
app = FastAPI(
    routes=[Route("/healthz", healthz), Route("/whoami", whoami)],
    lifespan=lifespan,
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
