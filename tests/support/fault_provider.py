"""A scripted, fault-injecting OpenAI-compatible chat completions server on loopback, for tests and dev.

`POST /v1/chat/completions` answers from a queue of steps, one per request: a `Reply` (text and/or
tool calls, streamed as SSE when the request says `stream: true`, with `usage`), or a `Fault`
(an HTTP status with optional `Retry-After`, a hang longer than the client's read timeout,
malformed JSON, or a streamed reply dropped after a few chunks). A step may also be a function of the request body, so a
test can answer from what it was sent. Every request body is recorded with its arrival time.
When the queue is empty the `default` step answers (a 500 saying the script ran out, unless set).

An outage (connection refused) is `FaultProvider.dead_url()`: a loopback port with nothing on it.

    with FaultProvider() as provider:
        provider.script(Fault.status(429, retry_after=0.1), Reply("hello"))
        ... MODEL=openai:test OPENAI_BASE_URL=provider.base_url ...
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from deep_agent_service.server.devserver import free_port


@dataclass(frozen=True)
class Reply:
    """One assistant turn: text, tool calls as (name, args) pairs, and the usage it reports."""

    content: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    prompt_tokens: int = 10
    completion_tokens: int = 5
    delay: float = 0.0  # seconds before the answer starts (a slow provider; other requests go on meanwhile)

    @classmethod
    def tool(cls, name: str, **args: Any) -> Reply:
        return cls(tool_calls=((name, args),))


@dataclass(frozen=True)
class Fault:
    kind: Literal["status", "hang", "malformed", "drop"]
    status: int = 500
    retry_after: float | None = None
    seconds: float = 30.0
    content: str = ""
    chunks: int = 0
    clean: bool = False

    @classmethod
    def http(cls, status: int, retry_after: float | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed")

    @classmethod
    def drop_after(cls, chunks: int, content: str, *, clean: bool = False) -> Fault:
        """Stream the first `chunks` words of `content`, then close the connection mid-reply.

        `clean=False` aborts the HTTP response (the client sees an incomplete body); `clean=True`
        ends it properly but without a finish reason or `[DONE]`, as a proxy that times out might.
        """
        return cls("drop", content=content, chunks=chunks, clean=clean)


Step = Reply | Fault | Callable[[dict[str, Any]], "Reply | Fault"]


@dataclass(frozen=True)
class Recorded:
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival

    @property
    def text(self) -> str:
        return json.dumps(self.body)


@dataclass
class FaultProvider:
    default: Step = field(default_factory=lambda: Fault.http(500))
    model_name: str = "fault-model"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: deque[Step] = deque()
        self._lock = threading.Lock()
        self.port = free_port()
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread: threading.Thread | None = None

    # --- control -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def dead_url() -> str:
        """A base URL whose port has nothing listening: every request is refused."""
        return f"http://127.0.0.1:{free_port()}/v1"

    def as_fallback_env(self) -> dict[str, str]:
        """Server env whose primary is an Anthropic endpoint where nothing listens (every call is
        refused) and whose fallback model is this provider."""
        return {
            "MODEL": "anthropic:claude-primary",
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": self.dead_url().removesuffix("/v1"),
            "FALLBACK_MODELS": f"openai:{self.model_name}",
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": self.base_url,
            "MODEL_RETRY_INITIAL_DELAY": "0.1",
        }

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._queue.extend(steps)

    def reset(self, default: Step | None = None) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            if default is not None:
                self.default = default

    def start(self) -> FaultProvider:
        self._thread = threading.Thread(target=self._server.run, name="fault-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fault provider did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FaultProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving -----------------------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> Reply | Fault:
        with self._lock:
            self.requests.append(Recorded(body=body, at=time.monotonic()))
            step = self._queue.popleft() if self._queue else self.default
        return step(body) if callable(step) else step

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        step = self._next(body)
        if isinstance(step, Fault) and step.kind == "drop":
            return StreamingResponse(self._dropped(step), media_type="text/event-stream")
        if isinstance(step, Fault):
            return await self._fault(step)
        if step.delay:
            await asyncio.sleep(step.delay)
        if body.get("stream"):
            return StreamingResponse(self._sse(step), media_type="text/event-stream")
        return JSONResponse(self._completion(step))

    async def _fault(self, fault: Fault) -> Response:
        if fault.kind == "status":
            headers = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
            error = {"error": {"message": f"injected {fault.status}", "type": "injected", "code": fault.status}}
            return JSONResponse(error, status_code=fault.status, headers=headers)
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return JSONResponse({"error": {"message": "hung"}}, status_code=504)
        return Response('{"id": "chatcmpl-broken", "choices": [', media_type="application/json")

    def _message(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in reply.tool_calls
            ]
        return message

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    def _completion(self, reply: Reply) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": self._message(reply),
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": self._usage(reply),
        }

    def _base(self) -> dict[str, Any]:
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk", "model": self.model_name}

    @staticmethod
    def _chunker(base: dict[str, Any]) -> Callable[..., str]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            payload = {
                **base,
                "created": int(time.time()),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        return chunk

    async def _dropped(self, fault: Fault) -> AsyncIterator[str]:
        chunk = self._chunker(self._base())
        yield chunk({"role": "assistant", "content": ""})
        for word in fault.content.split(" ")[: fault.chunks]:
            yield chunk({"content": word + " "})
            await asyncio.sleep(0.05)  # let the client receive the chunks before the drop
        if not fault.clean:
            raise ConnectionAbortedError("injected: connection dropped mid-stream")

    async def _sse(self, reply: Reply) -> AsyncIterator[str]:
        base = self._base()
        chunk = self._chunker(base)
        yield chunk({"role": "assistant", "content": ""})
        words = reply.content.split(" ") if reply.content else []
        for index, word in enumerate(words):
            yield chunk({"content": word if index == len(words) - 1 else word + " "})
        for index, tool in enumerate(self._message(reply).get("tool_calls", [])):
            yield chunk({"tool_calls": [{"index": index, **tool}]})
        yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
        usage = {**base, "created": int(time.time()), "choices": [], "usage": self._usage(reply)}
        yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"
