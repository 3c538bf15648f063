"""Extra HTTP routes mounted into the LangGraph server through `langgraph.json` `http.app`.

Its lifespan (merged into the server's by langgraph-api) starts background jobs: the sandbox
reaper, which asks the server itself (in-process langgraph-sdk client) which threads still exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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


app = Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)
