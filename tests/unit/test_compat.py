"""Library work-arounds (compat.py): the agent's schemas build on Python 3.11, and LangSmith's
untraced bookkeeping stays on the event loop while traced calls keep LangSmith's own behaviour."""

from __future__ import annotations

import contextvars
import threading

from langsmith import tracing_context
from langsmith._internal._aiter import aio_to_thread

from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent


def test_the_agent_publishes_input_and_output_schemas() -> None:
    """The server serves these to Studio and lists the agent as an MCP tool only when they build."""
    agent = build_agent(AssistantSettings())
    assert "messages" in agent.get_input_jsonschema()["properties"]
    assert "messages" in agent.get_output_jsonschema()["properties"]


async def test_untraced_langsmith_steps_run_inline_and_traced_ones_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()
    with tracing_context(enabled=False):
        assert await aio_to_thread(contextvars.copy_context(), threading.get_ident) == loop_thread
    with tracing_context(enabled=True):
        assert await aio_to_thread(contextvars.copy_context(), threading.get_ident) != loop_thread
