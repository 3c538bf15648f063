"""The service end to end through a real `langgraph dev` server and langgraph-sdk, offline."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask, last_ai_text


async def test_health_reports_offline_model(server: DevServer) -> None:
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{server.url}/healthz")).json()
    assert body["status"] == "ok"
    assert body["model"] == "offline"


async def test_streamed_run_shows_tokens_updates_and_final_state(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    seen: dict[str, int] = {}
    tokens: list[str] = []
    todos_in_values: list[object] = []
    async for part in client.runs.stream(
        thread["thread_id"],
        "agent",
        input={"messages": [{"role": "user", "content": "plan: draft; review; send"}]},
        stream_mode=["updates", "values", "messages-tuple"],
    ):
        seen[part.event] = seen.get(part.event, 0) + 1
        if part.event == "messages":
            chunk, _metadata = part.data
            if chunk.get("type", "").startswith("AIMessageChunk") or chunk.get("type") == "ai":
                tokens.append(chunk.get("content") or "")
        if part.event == "values" and part.data.get("todos"):
            todos_in_values.append(part.data["todos"])
    assert seen.get("updates", 0) >= 2, seen
    assert seen.get("values", 0) >= 2, seen
    assert len([t for t in tokens if t]) > 3, f"the reply should arrive as several token chunks: {tokens}"
    state = await client.threads.get_state(thread["thread_id"])
    assert [todo["content"] for todo in state["values"]["todos"]] == ["draft", "review", "send"]
    assert "- [ ] review" in last_ai_text(state)
    assert todos_in_values, "the values stream should carry the todo list"


async def test_reply_metadata_labels_the_offline_model(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    await ask(client, "hello", thread_id=thread["thread_id"])
    state = await client.threads.get_state(thread["thread_id"])
    ai = [m for m in state["values"]["messages"] if m["type"] == "ai"][-1]
    assert ai["response_metadata"]["model_provider"] == "offline"
    assert "remember <fact>" in ai["content"]


async def test_memory_follows_the_user_across_threads_but_not_assistants(client: LangGraphClient) -> None:
    fact = f"my favourite tea is sencha-{uuid.uuid4().hex[:8]}"
    assistant = await client.assistants.create(graph_id="agent", name=f"a-{uuid.uuid4().hex[:6]}")
    other = await client.assistants.create(graph_id="agent", name=f"b-{uuid.uuid4().hex[:6]}")

    confirmation = await ask(client, f"remember {fact}", assistant_id=assistant["assistant_id"])
    assert fact in confirmation

    recalled = await ask(client, "what do you remember?", assistant_id=assistant["assistant_id"])
    assert fact in recalled

    elsewhere = await ask(client, "what do you remember?", assistant_id=other["assistant_id"])
    assert fact not in elsewhere
    assert "don't remember anything" in elsewhere


async def test_scratch_files_stay_in_their_thread(client: LangGraphClient) -> None:
    thread = (await client.threads.create())["thread_id"]
    written = await ask(client, "write /draft.txt\nfirst draft", thread_id=thread)
    assert "/draft.txt" in written
    assert "first draft" in await ask(client, "read /draft.txt", thread_id=thread)
    assert "not found" in (await ask(client, "read /draft.txt")).replace("_", " ")  # sandbox: file_not_found


async def test_client_supplied_identity_keys_are_refused_and_change_nothing(
    client: LangGraphClient,
) -> None:
    assistant = await client.assistants.create(graph_id="agent", name=f"s-{uuid.uuid4().hex[:6]}")
    aid = assistant["assistant_id"]
    spoof = {"configurable": {"user_id": "mallory", "org_id": "evil", "owner": "mallory"}}
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await ask(client, "remember spoofed-run fact", assistant_id=aid, config=spoof)
    assert refused.value.response.status_code == 403
    assert "identity keys" in refused.value.response.text

    await ask(client, "remember verified fact", assistant_id=aid)
    # The note landed in the verified local user's private namespace, nowhere else.
    own = await client.store.search_items(("local", "private", aid, "local"))
    assert [item["value"]["content"] for item in own["items"]] == ["verified fact\n"]
    mallory = await client.store.search_items(("local", "private", aid, "mallory"))
    assert mallory["items"] == []
    with pytest.raises(httpx.HTTPStatusError) as other_org:  # and no other org is reachable at all
        await client.store.search_items(("evil",))
    assert other_org.value.response.status_code == 403


async def test_invalid_assistant_settings_are_refused_when_the_assistant_is_created(client: LangGraphClient) -> None:
    """A bad key fails at create time with the key named (422), not on the assistant's next run."""
    before = len(await client.assistants.search(graph_id="agent", limit=100))
    with pytest.raises(UnprocessableEntityError, match="colour"):
        await client.assistants.create(
            graph_id="agent", config={"configurable": {"assistant_settings": {"colour": "blue"}}}
        )
    assert len(await client.assistants.search(graph_id="agent", limit=100)) == before
