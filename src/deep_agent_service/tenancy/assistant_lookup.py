"""The stored settings of an assistant, read from the LangGraph server this process runs in.

Stock clients (LangChain's Deep Agents UI) send the assistant's own `config` back with every run.
For a member that echo carries `assistant_settings`, which a member may not override per run; the
`threads.create_run` handler compares it with what is stored to tell an echo from an override.
"""

from __future__ import annotations

from typing import Any

from deep_agent_service.assistant_settings import ASSISTANT_SETTINGS_KEY

NOT_FOUND = object()


async def stored_assistant_settings(assistant_id: str) -> Any:
    """The assistant's stored `configurable.assistant_settings` ({} when it has none), or `NOT_FOUND`
    when this server cannot tell (no langgraph-api runtime in the process, e.g. Aegra; no such id)."""
    try:
        from langgraph_runtime.database import connect  # type: ignore[import-untyped]
        from langgraph_runtime.ops import Assistants  # type: ignore[import-untyped]
    except ImportError:
        return NOT_FOUND
    try:
        # ctx=None: the run handler has already authorized the caller for this assistant.
        async with connect() as conn:
            async for assistant in await Assistants.get(conn, assistant_id):
                configurable = (assistant.get("config") or {}).get("configurable") or {}
                return configurable.get(ASSISTANT_SETTINGS_KEY) or {}
    except ValueError:  # not an assistant UUID: nothing to compare with, the strict rule applies
        return NOT_FOUND
    return NOT_FOUND
