"""The HTTP edge, in front of every route of the server (langgraph-api applies the `http.app`'s
middleware to all routes, its own included, before authentication).

- `RequestBodyLimit`: a body over MAX_REQUEST_BYTES answers 413 before anything reads, parses or
  stores it (a declared Content-Length at once; a chunked body as soon as it passes the limit).
- `OperationsGate`: what names the model, auth mode, sandbox provider or per-route counts
  (`/metrics`, the details of `/healthz`) is for admins, unless OPERATIONS_ENDPOINTS_OPEN=true
  opens it (a private network with a scraper). Liveness (`/ok`, the status of `/healthz`) stays open.
- `inner_call_failed`: the server's protocol endpoints (MCP `tools/call`) call the server's own API
  in-process and let its client errors escape as a 500; answered here with the inner status.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import httpx
from langgraph_sdk import Auth
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deep_agent_service.settings import get_settings
from deep_agent_service.tenancy.credentials import Authenticator, build_authenticator

OPERATIONS_PATHS = frozenset({"/metrics"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class RequestBodyLimit:
    """ASGI middleware: refuse request bodies larger than `max_bytes` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes if max_bytes is not None else get_settings().server.max_request_bytes

    def _too_large(self, size: str) -> Response:
        return JSONResponse(
            {
                "detail": f"the request body is {size} bytes; this server accepts at most {self.max_bytes} "
                "(MAX_REQUEST_BYTES): send less, or split it into several requests"
            },
            status_code=413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if declared.strip().isdigit() and int(declared) > self.max_bytes:
                await self._too_large(declared.strip())(scope, receive, send)
                return
            # The HTTP server never delivers more than the declared length.
            await self.app(scope, receive, send)
            return
        if _header(scope, b"transfer-encoding") is None:  # no body at all
            await self.app(scope, receive, send)
            return
        # Chunked: read it here, up to the limit, and hand the app the same messages.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(f"more than {self.max_bytes}")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class OperationsGate:
    """ASGI middleware: operations endpoints answer admins only (or everyone, when opened)."""

    def __init__(
        self, app: ASGIApp, authenticate: Authenticator | None = None, open_to_all: bool | None = None
    ) -> None:
        settings = get_settings()
        self.app = app
        self.authenticate = authenticate or build_authenticator(settings)
        self.open_to_all = settings.server.operations_endpoints_open if open_to_all is None else open_to_all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in OPERATIONS_PATHS and not self.open_to_all:
            refusal = await operations_refusal(self.authenticate, scope_headers(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def scope_headers(scope: Scope) -> dict[str, str]:
    """A request's headers as the authenticator reads them."""
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", ())}


async def operations_refusal(authenticate: Authenticator, headers: Mapping[str, str]) -> Response | None:
    """None if the caller may see operations details (an admin); otherwise the 401/403 to answer."""
    try:
        principal = await authenticate(headers)
    except Auth.exceptions.HTTPException as error:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)
    if principal.role != "admin":
        return JSONResponse(
            {"detail": "operations endpoints are for admins (or OPERATIONS_ENDPOINTS_OPEN=true on a private network)"},
            status_code=403,
        )
    return None


async def inner_call_failed(request: Request, error: Exception) -> Response:
    """An in-process call to the server's own API failed: answer with its client error, not a 500."""
    assert isinstance(error, httpx.HTTPStatusError)
    status = error.response.status_code
    try:
        detail: Any = error.response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if 400 <= status < 500:
        return JSONResponse({"detail": detail or error.response.reason_phrase}, status_code=status)
    return JSONResponse({"detail": "an inner call to this server failed; see the server log"}, status_code=502)


ExceptionHandler = Callable[[Request, Any], Coroutine[Any, Any, Response]]
EXCEPTION_HANDLERS: dict[int | type[Exception], ExceptionHandler] = {httpx.HTTPStatusError: inner_call_failed}
