"""The edge middleware in process: the body cap passes what fits unchanged (also chunked), and the
operations gate opens for everyone only when OPERATIONS_ENDPOINTS_OPEN says so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from langgraph_sdk import Auth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deep_agent_service.server.edge import OperationsGate, RequestBodyLimit
from deep_agent_service.tenancy.credentials import Principal


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(await request.body())})


async def metrics(request: Request) -> JSONResponse:
    return JSONResponse({"requests": 42})


APP = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/metrics", metrics)])


async def only_admin_key(headers: Mapping[Any, Any]) -> Principal:
    key = dict(headers).get("x-api-key")
    if key is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="no key")
    return Principal(user=key, org="acme", role="admin" if key == "admin" else "member")


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


async def chunked(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 1000):
        yield b"x" * 1000


async def test_bodies_within_the_cap_reach_the_app_whole() -> None:
    async with client(RequestBodyLimit(APP, max_bytes=5000)) as http:
        assert (await http.post("/echo", content=b"x" * 5000)).json() == {"received": 5000}
        assert (await http.post("/echo", content=chunked(5000))).json() == {"received": 5000}
        assert (await http.post("/echo", content=b"x" * 5001)).status_code == 413
        refused = await http.post("/echo", content=chunked(6000))
        assert refused.status_code == 413 and "MAX_REQUEST_BYTES" in refused.text


async def test_operations_endpoints_need_an_admin_unless_opened() -> None:
    async with client(OperationsGate(APP, authenticate=only_admin_key, open_to_all=False)) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"x-api-key": "bob"})).status_code == 403
        assert (await http.get("/metrics", headers={"x-api-key": "admin"})).json() == {"requests": 42}
        assert (await http.post("/echo", content=b"hi")).status_code == 200  # other routes: not its business
    async with client(OperationsGate(APP, authenticate=only_admin_key, open_to_all=True)) as http:
        assert (await http.get("/metrics")).json() == {"requests": 42}
