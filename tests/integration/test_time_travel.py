"""Time travel through langgraph-sdk: list a thread's history, fork from an earlier checkpoint with a
changed message, and get a different outcome while the original branch stays intact."""

from __future__ import annotations

from typing import Any

from langgraph_sdk.client import LangGraphClient

from tests.support.chat import ask, last_ai_text


def _messages(state: Any) -> list[dict[str, Any]]:
    return list(state["values"].get("messages", []))


async def fork_changes_the_outcome_and_keeps_the_original(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    await ask(client, "plan: buy milk", thread_id=thread_id)
    original_reply = await ask(client, "plan: walk the dog", thread_id=thread_id)
    original_head = await client.threads.get_state(thread_id)

    # The oldest checkpoint whose last message is the second request: the input, before the model saw it.
    history = await client.threads.get_history(thread_id, limit=100)
    asked = [s for s in history if _messages(s) and _messages(s)[-1].get("content") == "plan: walk the dog"]
    assert asked, "the history holds the checkpoint where the second request arrived"
    fork_point = asked[-1]
    request = _messages(fork_point)[-1]

    # Replace that message (same id: the reducer swaps it) on a new branch from the fork point.
    branch = await client.threads.update_state(
        thread_id,
        {"messages": [{"id": request["id"], "type": "human", "content": "plan: feed the cat"}]},
        checkpoint_id=fork_point["checkpoint"]["checkpoint_id"],
        as_node="__start__",
    )
    result = await client.runs.wait(
        thread_id, "agent", input=None, checkpoint_id=branch["checkpoint"]["checkpoint_id"], raise_error=True
    )

    forked_reply = last_ai_text(result)
    assert "feed the cat" in forked_reply and "walk the dog" not in forked_reply
    assert "walk the dog" in original_reply
    # The original branch is still there, unchanged, at its old head checkpoint.
    kept = await client.threads.get_state(thread_id, checkpoint_id=original_head["checkpoint"]["checkpoint_id"])
    assert last_ai_text(kept) == original_reply
    assert [m["content"] for m in _messages(kept) if m["type"] == "human"] == ["plan: buy milk", "plan: walk the dog"]
    # And the thread's head is now the fork, which kept the first turn.
    head = await client.threads.get_state(thread_id)
    assert [m["content"] for m in _messages(head) if m["type"] == "human"] == ["plan: buy milk", "plan: feed the cat"]


async def test_fork_from_an_earlier_checkpoint_on_langgraph_dev(client: LangGraphClient) -> None:
    await fork_changes_the_outcome_and_keeps_the_original(client)


async def test_default_assistant_id_matches_aegra(client: LangGraphClient) -> None:
    from deep_agent_service.tenancy.identity import canonical_assistant_id

    default = await client.assistants.get(canonical_assistant_id("agent"))  # the server's own, by graph id
    assert default["graph_id"] == "agent"
