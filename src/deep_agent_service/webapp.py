"""Extra HTTP routes mounted into the LangGraph server through `langgraph.json` `http.app`."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deep_agent_service import __version__
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
            "sandbox_provider": probe_sandbox_provider(),
        },
        status_code=200 if healthy else 503,
    )


# FastAPI (a Starlette subclass): langgraph-api mounts any Starlette app, Aegra requires FastAPI.
# No docs routes of its own, so the server's /docs stays visible.
app = FastAPI(routes=[Route("/healthz", healthz)], docs_url=None, redoc_url=None, openapi_url=None)
