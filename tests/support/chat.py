"""Small langgraph-sdk helpers shared by the integration tests."""

from __future__ import annotations

from typing import Any

from langgraph_sdk.client import LangGraphClient


def last_ai_text(state: Any) -> str:
    """The content of the last AI message in a thread state's values."""
    values = state.get("values", state)
    for message in reversed(values.get("messages", [])):
        if message.get("type") == "ai" and isinstance(message.get("content"), str) and message["content"]:
            return str(message["content"])
    raise AssertionError(f"no AI reply in {values.get('messages')!r}")


async def ask(
    client: LangGraphClient,
    text: str,
    *,
    assistant_id: str = "agent",
    thread_id: str | None = None,
    config: dict[str, Any] | None = None,
) -> str:
    """Run one turn to completion on a (new or given) thread and return the agent's reply."""
    if thread_id is None:
        thread_id = (await client.threads.create())["thread_id"]
    result = await client.runs.wait(
        thread_id,
        assistant_id,
        input={"messages": [{"role": "user", "content": text}]},
        config=config,
        raise_error=True,
    )
    return last_ai_text(result)
