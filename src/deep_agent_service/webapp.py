"""Extra HTTP routes mounted into the LangGraph server through `langgraph.json` `http.app`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deep_agent_service import __version__
from deep_agent_service.settings import get_settings


async def healthz(request: Request) -> JSONResponse:
    settings = get_settings()
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "model": settings.primary_model,
            "auth_mode": settings.auth_mode,
        }
    )


app = Starlette(routes=[Route("/healthz", healthz)])
