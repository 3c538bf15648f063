"""HTTP edge of the `files` contract: a `files` update the agent cannot use is refused, not dropped.

Clients write thread state `files` with `POST /threads/{id}/state` (the Deep Agents UI's editor)
and as run input (`POST /threads/{id}/runs[/stream|/wait]`, `POST /runs[/stream|/wait]`). The
server would store anything there; entries the agent can never see (memory mounts, system
directories, deletions, odd shapes, oversized files) would vanish without a word. This ASGI
middleware checks those bodies with `sandboxes.files_state.check_files_update` and answers 422
with the reason; bodies it accepts go on with bare-string entries turned into FileData. It runs
before authentication: it only reads the body's shape and answers the same to every caller.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deep_agent_service.memory.mounts import MOUNTS
from deep_agent_service.sandboxes.files_state import FILES_KEY, FilesUpdateError, check_files_update
from deep_agent_service.settings import get_settings

STATE_UPDATE = re.compile(r"/threads/[^/]+/state$")
RUN_CREATE = re.compile(r"(/threads/[^/]+)?/runs(/stream|/wait)?$")
MEMORY_PREFIXES = tuple(mount.prefix for mount in MOUNTS.values())


def _updates(path: str, body: Any) -> list[dict[str, Any]]:
    """The dicts in `body` that may carry `files`: state values (one or a list) or run input."""
    if not isinstance(body, dict):
        return []
    found = body.get("values") if STATE_UPDATE.search(path) else body.get("input")
    candidates = found if isinstance(found, list) else [found]
    return [c for c in candidates if isinstance(c, dict) and FILES_KEY in c]


def checked_body(path: str, raw: bytes) -> bytes:
    """The body to pass on (unchanged unless a `files` entry was normalised); raises `FilesUpdateError`."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw  # not JSON: the server answers that itself
    updates = _updates(path, body)
    if not updates:
        return raw
    max_bytes = get_settings().sandbox.state_file_max_bytes
    for update in updates:
        update[FILES_KEY] = check_files_update(update[FILES_KEY], hidden=MEMORY_PREFIXES, max_bytes=max_bytes)
    return json.dumps(body).encode()


class FilesUpdateGuard:
    """ASGI middleware: applies `checked_body` to the requests that write thread state `files`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not (STATE_UPDATE.search(path) or RUN_CREATE.search(path))
        ):
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
        raw = b"".join(chunks)
        try:
            body = checked_body(path, raw)
        except FilesUpdateError as error:
            await JSONResponse({"detail": str(error)}, status_code=422)(scope, receive, send)
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
