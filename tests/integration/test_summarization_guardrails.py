"""A long conversation is summarised by a model call of its own: it takes the service's guardrails.

deepagents compacts a conversation that nears the model's context window (170,000 tokens for a
model without a profile) with a summary call made from its `SummarizationMiddleware`, outside the
agent's model node, so outside every `wrap_model_call` guardrail. That call is the largest a
conversation makes (its whole older history), and it used to go straight to the primary model:
never charged to the token budget, no fallback when the primary is down (the run failed), no
retry policy of the service, its reply (which the agent reads from then on) never PII-filtered.

Here the primary refuses connections and the fault provider is the fallback, as in
`test_guardrails.py`; one run's input is ~185,000 tokens, so its first model call summarises.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.guardrails.budgets import today
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import last_ai_text
from tests.support.fault_provider import FaultProvider, Reply
from tests.support.server import serving

SUMMARY_PROMPT_MARK = "Context Extraction Assistant"
EMAIL = "dana.scully@fbi.example.gov"
PARTS = 8  # more than the 6 messages deepagents keeps, so the oldest are summarised
PART = "lorem ipsum dolor sit amet " * 3400  # ~92 KB, ~23,000 tokens: 8 of them pass 170,000
LONG_INPUT = {"messages": [{"role": "user", "content": f"part {index}: {PART}"} for index in range(PARTS)]}
BUDGET = 100_000_000


@pytest.fixture(scope="module")
def server(provider: FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {
        **provider.as_fallback_env(),
        "MODEL_RETRY_MAX_RETRIES": "1",
        "TOKEN_BUDGET_USER_DAILY": str(BUDGET),
        "PII_EMAIL": "redact",
    }
    with serving(Path(tmp_path_factory.mktemp("summarise")), env) as running:
        yield running


def _is_summary_request(body: dict[str, Any]) -> bool:
    return SUMMARY_PROMPT_MARK in json.dumps(body.get("messages", []))


def _summary_then_answer(body: dict[str, Any]) -> Reply:
    if _is_summary_request(body):
        return Reply(f"The user sent {PARTS} long parts; reach them at {EMAIL}.", prompt_tokens=1000)
    return Reply("answered after the summary", prompt_tokens=10)


async def _long_run(client: LangGraphClient, thread_id: str) -> list[tuple[str, Any]]:
    """One streamed run whose input is long enough to be summarised: [(event, data), ...]."""
    events: list[tuple[str, Any]] = []
    async for part in client.runs.stream(thread_id, "agent", input=LONG_INPUT, stream_mode=["values", "custom"]):
        events.append((part.event, part.data))
    return events


async def _budget_tokens(client: LangGraphClient) -> int:
    item = await client.store.get_item(["local", "budgets", today()], "user:local")
    assert item is not None
    return int(item["value"]["tokens"])


async def _set_budget_tokens(client: LangGraphClient, tokens: int) -> None:
    await client.store.put_item(["local", "budgets", today()], "user:local", {"tokens": tokens})


async def test_the_summary_call_falls_back_is_charged_and_its_reply_is_filtered(
    server: DevServer, provider: FaultProvider
) -> None:
    provider.reset(default=_summary_then_answer)
    client = connect(url=server.url)
    thread = await client.threads.create()
    events = await _long_run(client, thread["thread_id"])
    errors = [data for event, data in events if event == "error"]
    assert not errors, f"the run failed: {errors}"
    state = await client.threads.get_state(thread["thread_id"])
    assert last_ai_text(state) == "answered after the summary"

    summaries = [request for request in provider.requests if _is_summary_request(request.body)]
    assert len(summaries) == 1, "the summary call did not reach the fallback model"
    # every request the provider answered is charged: the summary's 1,005 tokens and the answer's 15
    assert await _budget_tokens(client) == 1005 + 15
    # the summary is what the agent reads from now on: filtered like any model reply
    main = [request for request in provider.requests if not _is_summary_request(request.body)]
    assert main and EMAIL not in json.dumps(main[-1].body)
    history = await client.threads.get_history(thread["thread_id"], limit=50)
    assert EMAIL not in json.dumps([checkpoint["values"] for checkpoint in history])
    fallbacks = [data for event, data in events if event == "custom" and data.get("guardrail") == "fallback"]
    assert len(fallbacks) >= 2, "the summary call and the answer each fell back from the dead primary"


async def test_a_summary_the_budget_refuses_ends_the_run_like_any_refused_call(
    server: DevServer, provider: FaultProvider
) -> None:
    """No model is asked, the conversation is left as it was, and the user reads why, as a reply.

    An agent's own refused call ends the run with the budget's message as its last reply; a refused
    summary used to fail the run instead (an `error` event, a failed run in the UI).
    """
    provider.reset(default=_summary_then_answer)
    client = connect(url=server.url)
    await _set_budget_tokens(client, BUDGET)  # the day's budget is spent
    try:
        thread = await client.threads.create()
        events = await _long_run(client, thread["thread_id"])
        assert not [data for event, data in events if event == "error"], "a refused summary failed the run"
        assert provider.requests == [], "a refused summary must not reach any model"
        trips = [data for event, data in events if event == "custom" and data.get("guardrail") == "budget"]
        assert trips and trips[0]["action"] == "exhausted", trips
        state = await client.threads.get_state(thread["thread_id"])
        reply = last_ai_text(state)
        assert "daily token budget is used up" in reply and "TOKEN_BUDGET_USER_DAILY" in reply, reply
        assert "_summarization_event" not in json.dumps(state["values"])
        # nothing summarised away: the user's parts, then the refusal
        assert [m["type"] for m in state["values"]["messages"]] == ["human"] * PARTS + ["ai"]
        runs = await client.runs.list(thread["thread_id"])
        assert runs[0]["status"] == "success"
    finally:
        await _set_budget_tokens(client, 0)
