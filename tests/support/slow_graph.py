"""A test-only graph for crash tests: the offline model, an async `sleep` tool, and a call log.

`sleep <seconds>` makes the offline model call the `sleep` tool, so a run lasts as long as a test
needs. Every model call and every tool start is appended to the file named by `CALL_LOG` (outside
the server process, so it survives a `kill -9`): a model call repeated after a crash shows up as
the same `model <thread> <message count>` line twice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from deepagents import create_deep_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.tools import tool
from langgraph.config import get_config

from deep_agent_service.offline_model import OfflineChatModel


def _append(line: str) -> None:
    path = os.environ.get("CALL_LOG")
    if path:
        with Path(path).open("a") as log:
            log.write(line + "\n")
            log.flush()
            os.fsync(log.fileno())


def _thread_id() -> str:
    return str(get_config().get("configurable", {}).get("thread_id"))


class CallLog(AgentMiddleware[Any, Any]):
    """Logs each model call before it is made: `model <thread_id> <number of messages>`."""

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        await asyncio.to_thread(_append, f"model {_thread_id()} {len(request.messages)}")
        return await handler(request)


@tool
async def sleep(seconds: float) -> str:
    """Wait `seconds` seconds, then say so."""
    # the pid says which server process ran the call (several Aegra instances share one queue)
    await asyncio.to_thread(_append, f"tool-start {_thread_id()} sleep {seconds:g} pid {os.getpid()}")
    await asyncio.sleep(seconds)
    return f"slept {seconds:g}s"


graph = create_deep_agent(model=OfflineChatModel(), tools=[sleep], middleware=[CallLog()], name="slow-agent")
