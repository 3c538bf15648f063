"""Human-in-the-loop: an assistant that needs approval for `write_file` pauses, survives a server
restart while paused, and resumes from the pause on the person's decision, running the tool once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import last_ai_text
from tests.support.server import launch


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("approvals"))


@pytest.fixture(scope="module")
def first_server(workdir: Path) -> Iterator[DevServer]:
    server = launch(workdir)
    yield server
    server.stop()


async def _pause(client: LangGraphClient, text: str) -> tuple[str, str]:
    assistant = await client.assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": {"interrupt_on": ["write_file"]}}}
    )
    thread = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread, assistant["assistant_id"], input={"messages": [{"role": "user", "content": text}]})
    return thread, assistant["assistant_id"]


async def test_a_paused_run_survives_a_restart_and_resumes_on_approval(workdir: Path, first_server: DevServer) -> None:
    client = connect(url=first_server.url)
    thread, assistant = await _pause(client, "write /memories/approved.md\nshipped on Friday")
    state = await client.threads.get_state(thread)
    interrupts = [i for task in state["tasks"] for i in task["interrupts"]]
    assert len(interrupts) == 1
    request = interrupts[0]["value"]["action_requests"][0]
    assert request["name"] == "write_file" and request["args"]["file_path"] == "/memories/approved.md"
    assert (await client.threads.get(thread))["status"] == "interrupted"
    assert (await client.store.search_items(("local", "private", assistant, "local")))["items"] == []

    first_server.stop()  # a graceful restart: the pause is in the persisted checkpoint
    restarted = launch(workdir)
    try:
        client = connect(url=restarted.url)
        result = await client.runs.wait(thread, assistant, command={"resume": {"decisions": [{"type": "approve"}]}})
        assert last_ai_text(result) == "Updated file /memories/approved.md"
        items = (await client.store.search_items(("local", "private", assistant, "local")))["items"]
        assert [item["value"]["content"] for item in items] == ["shipped on Friday"]
        history = await client.threads.get_history(thread, limit=50)
        tool_results = [
            m for m in history[0]["values"]["messages"] if m["type"] == "tool" and m.get("name") == "write_file"
        ]
        assert len(tool_results) == 1, "the approved tool ran exactly once"
        assert (await client.threads.get(thread))["status"] == "idle"
    finally:
        restarted.stop()


async def test_a_rejected_call_does_not_run(workdir: Path) -> None:
    server = launch(workdir / "reject")
    try:
        client = connect(url=server.url)
        thread, assistant = await _pause(client, "write /memories/rejected.md\nnope")
        await client.runs.wait(
            thread,
            assistant,
            command={"resume": {"decisions": [{"type": "reject", "message": "not this file"}]}},
        )
        assert (await client.store.search_items(("local", "private", assistant, "local")))["items"] == []
        state = await client.threads.get_state(thread)
        tool_messages = [m for m in state["values"]["messages"] if m["type"] == "tool"]
        assert any("not this file" in str(m["content"]) for m in tool_messages)
    finally:
        server.stop()
