"""Request bodies checked at the HTTP edge, before the server parses them: a bad one gets a 422 with the reason.

Each `BodyCheck` names the requests it reads (method and path); its function may correct the parsed
body in place (and says whether it did) or raises `BodyRefused`. `BodyGuard` (ASGI middleware)
reads the body of a matching JSON request once, runs the checks and replays the result to the
server. It runs before the server's authentication, so a refusal goes only to a caller the
authenticator accepts: anyone else's request goes on unchanged and the server answers 401, as on
every protected route.

Checks here: the `files` contract (`files_guard`) and `STORE_SEARCH`, a body langgraph-api reads
as `tuple(payload["namespace_prefix"])` before any handler runs, so a search without a prefix list
was a 500 with no reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph_sdk import Auth
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deep_agent_service.errors import ServiceError
from deep_agent_service.server.edge import scope_headers
from deep_agent_service.tenancy.credentials import Authenticator


class BodyRefused(ServiceError, ValueError):
    """A request body the service refuses; the message says what is wrong and how to fix it."""


@dataclass(frozen=True, slots=True)
class BodyCheck:
    method: str
    path: re.Pattern[str]
    check: Callable[[str, Any], bool]  # (path, parsed body) -> whether it corrected the body; raises BodyRefused

    def reads(self, scope: Scope) -> bool:
        return scope["method"] == self.method and self.path.search(scope.get("path", "")) is not None


def _require_namespace_prefix(path: str, body: Any) -> bool:
    if isinstance(body, dict) and not isinstance(body.get("namespace_prefix"), list):
        raise BodyRefused(
            "namespace_prefix is required: the list of namespace parts to search under, for example "
            '["<org>", "user", "<you>"] for your own memory'
        )
    return False


STORE_SEARCH = BodyCheck("POST", re.compile(r"/store/items/search$"), _require_namespace_prefix)


class BodyGuard:
    """ASGI middleware: runs each matching `BodyCheck` on the request body, in order."""

    def __init__(self, app: ASGIApp, checks: tuple[BodyCheck, ...], authenticate: Authenticator) -> None:
        self.app = app
        self.checks = checks
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checks = [check for check in self.checks if check.reads(scope)] if scope["type"] == "http" else []
        if not checks:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client went away; let the server see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = body = b"".join(chunks)
        try:
            body = _checked(scope["path"], raw, checks)
        except BodyRefused as refused:
            if await self._is_caller(scope):
                await JSONResponse({"detail": str(refused)}, status_code=422)(scope, receive, send)
                return
        if body is not raw:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _is_caller(self, scope: Scope) -> bool:
        try:
            await self.authenticate(scope_headers(scope))
        except Auth.exceptions.HTTPException:
            return False
        return True


def _checked(path: str, raw: bytes, checks: list[BodyCheck]) -> bytes:
    """The body to pass on: `raw` itself unless a check changed it; raises `BodyRefused`."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw  # not JSON: the server answers that itself
    corrected = [check.check(path, body) for check in checks]
    return json.dumps(body).encode() if any(corrected) else raw
