"""The offline model's script, driven through the real deep agent in process (no server)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.sandboxes import SandboxScope

ALICE = {"identity": "alice", "org": "acme", "role": "member"}


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def graph(store: InMemoryStore) -> Any:
    return build_agent(AssistantSettings()).copy(update={"store": store, "checkpointer": InMemorySaver()})


async def _say(graph: Any, text: str, *, thread: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    configurable = {
        "thread_id": thread,
        "assistant_id": "asst",
        "langgraph_auth_user": ALICE,
        **(extra or {}),
    }
    result: dict[str, Any] = await graph.ainvoke(
        {"messages": [{"role": "user", "content": text}]}, {"configurable": configurable}
    )
    return result


def _reply(result: dict[str, Any]) -> str:
    return str(result["messages"][-1].content)


async def test_remember_appends_and_recall_reads_back(graph: Any, store: InMemoryStore) -> None:
    await _say(graph, "remember tea is green", thread="t1")
    await _say(graph, "Remember coffee is black", thread="t2")
    recalled = _reply(await _say(graph, "So, what do you remember?", thread="t3"))
    assert "tea is green" in recalled and "coffee is black" in recalled
    item = store.get(("acme", "private", "asst", "alice"), "/notes.md")
    assert item is not None
    assert item.value["content"] == "tea is green\ncoffee is black\n"


async def test_recall_with_no_notes_says_so(graph: Any) -> None:
    assert "don't remember anything" in _reply(await _say(graph, "what do you remember", thread="t"))


async def test_write_then_read_quotes_tool_results(graph: Any) -> None:
    thread = uuid.uuid4().hex
    assert _reply(await _say(graph, "write /a.txt\nline one\nline two", thread=thread)) == "Updated file /a.txt"
    assert _reply(await _say(graph, "read /a.txt", thread=thread)).endswith("line one\nline two")
    missing = _reply(await _say(graph, "read /missing.txt", thread=thread))
    assert missing.startswith("Error: File '/missing.txt'") and "not found" in missing.replace("_", " ")


async def test_plan_writes_todos(graph: Any) -> None:
    result = await _say(graph, "plan: a; b ;c", thread="t")
    assert [t["content"] for t in result["todos"]] == ["a", "b", "c"]


async def test_delegate_runs_a_subagent_with_the_same_tools(graph: Any, store: InMemoryStore) -> None:
    reply = _reply(await _say(graph, "delegate: remember subagents share memory", thread="t"))
    assert reply.startswith("The subagent replied:")
    assert "subagents share memory" in reply
    assert store.get(("acme", "private", "asst", "alice"), "/notes.md") is not None


async def test_run_without_a_sandbox_quotes_the_tool_error(store: InMemoryStore) -> None:
    graph = build_agent(AssistantSettings(sandbox_scope=SandboxScope.NONE)).copy(update={"store": store})
    assert "Execution not available" in _reply(await _say(graph, "run echo hi", thread="t"))


async def test_spoofed_user_id_does_not_redirect_memory(graph: Any, store: InMemoryStore) -> None:
    await _say(graph, "remember mine", thread="t", extra={"user_id": "mallory", "org_id": "evil"})
    assert store.get(("acme", "private", "asst", "alice"), "/notes.md") is not None
    assert store.search(("evil",)) == []
    assert store.search(("acme", "private", "asst", "mallory")) == []


async def test_anything_else_lists_the_script(graph: Any) -> None:
    reply = _reply(await _say(graph, "hi there", thread="t"))
    for command in ("remember", "what do you remember", "write", "read", "run", "plan:", "delegate:"):
        assert command in reply


async def test_markdown_demo_replies_with_a_table_a_task_list_and_a_code_block(graph: Any) -> None:
    reply = _reply(await _say(graph, "markdown demo", thread="t"))
    assert "| --- | --- |" in reply
    assert "- [x] " in reply and "- [ ] " in reply
    assert "```python\n" in reply
    assert reply.count("```") == 2
