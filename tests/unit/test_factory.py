"""The graph factory: same topology in every access context, cached, and provisions nothing on reads."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore
from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

from agent import agent
from deep_agent_service.assistant_settings import AssistantSettingsError

USER = {"identity": "alice", "org": "acme", "role": "member"}


class RecordingStore(InMemoryStore):
    """An in-memory store that counts every operation the factory makes on it."""

    def __init__(self) -> None:
        super().__init__()
        self.operations = 0

    async def abatch(self, ops: Any) -> Any:
        self.operations += 1
        return await super().abatch(ops)

    def batch(self, ops: Any) -> Any:
        self.operations += 1
        return super().batch(ops)


def _runtime(access_context: str, store: InMemoryStore) -> Any:
    if access_context == "threads.create_run":
        return _ExecutionRuntime(access_context="threads.create_run", user=None, store=store)
    return _ReadRuntime(access_context=access_context, user=None, store=store)  # type: ignore[arg-type]


def _topology(graph: Any) -> tuple[list[str], list[tuple[str, str]]]:
    drawn = graph.get_graph()
    return sorted(drawn.nodes), sorted((edge.source, edge.target) for edge in drawn.edges)


CONFIG = {"configurable": {"thread_id": "t-1", "assistant_id": "asst-1"}}


@pytest.mark.parametrize("access_context", ["threads.read", "threads.update", "assistants.read"])
async def test_topology_is_the_same_as_for_runs(access_context: str) -> None:
    store = RecordingStore()
    for_run = await agent(CONFIG, _runtime("threads.create_run", store))  # type: ignore[arg-type]
    for_read = await agent({"configurable": {}}, _runtime(access_context, store))  # type: ignore[arg-type]
    assert _topology(for_read) == _topology(for_run)
    assert "tools" in _topology(for_run)[0]


async def test_factory_returns_the_cached_agent_and_touches_no_store() -> None:
    store = RecordingStore()
    first = await agent(CONFIG, _runtime("threads.create_run", store))  # type: ignore[arg-type]
    second = await agent(CONFIG, _runtime("threads.read", store))  # type: ignore[arg-type]
    assert first is second
    assert store.operations == 0


async def test_assistant_settings_change_the_agent_and_bad_ones_are_refused() -> None:
    store = RecordingStore()
    base = await agent(CONFIG, _runtime("threads.read", store))  # type: ignore[arg-type]
    custom_config = {"configurable": {"assistant_settings": {"instructions": "Answer in French."}}}
    custom = await agent(custom_config, _runtime("threads.read", store))  # type: ignore[arg-type]
    assert custom is not base
    with pytest.raises(AssistantSettingsError, match="colour"):
        await agent(
            {"configurable": {"assistant_settings": {"colour": "blue"}}},  # type: ignore[arg-type]
            _runtime("threads.read", store),
        )
