"""Guardrails through a real `langgraph dev` server whose model is a fault-injecting provider on loopback.

The service reaches the provider through its normal model path (`MODEL=openai:...` with
`OPENAI_BASE_URL`); the provider is scripted per test and records every request it receives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import last_ai_text
from tests.support.fault_provider import Fault, FaultProvider, Reply
from tests.support.server import serving

CORPUS: list[dict[str, str]] = json.loads((Path(__file__).parents[1] / "data" / "pii_corpus.json").read_text())[
    "samples"
]
CORPUS_TEXT = "\n".join(f"- {sample['type']}: {sample['value']}" for sample in CORPUS)
SECRET = next(sample["value"] for sample in CORPUS if sample["value"].startswith("sk-"))

GUARDED_ENV = {
    "MODEL": "openai:fault-model",
    "OPENAI_API_KEY": "test-key",
    "MODEL_TIMEOUT_SECONDS": "1",
    "MODEL_RETRY_MAX_RETRIES": "3",
    "MODEL_RETRY_INITIAL_DELAY": "0.2",
    "MODEL_RETRY_BACKOFF_FACTOR": "2",
    "MODEL_RETRY_MAX_DELAY": "3",
    "MODEL_RETRY_BUDGET_SECONDS": "10",
    "MODEL_CALL_RUN_LIMIT": "4",
    "MODEL_CALL_THREAD_LIMIT": "6",
    "TOOL_CALL_LIMITS": '{"glob": {"run": 2}}',
    "PII_EMAIL": "redact",
    "PII_CREDIT_CARD": "mask",
    "PII_IP": "hash",
    "PII_URL": "redact",
    "PII_SECRET": "redact",
}


@pytest.fixture(scope="module")
def guarded_server(provider: FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {**GUARDED_ENV, "OPENAI_BASE_URL": provider.base_url}
    with serving(Path(tmp_path_factory.mktemp("guarded")), env) as running:
        yield running


@pytest.fixture(scope="module")
def fallback_server(provider: FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """Primary: an Anthropic endpoint where nothing listens; fallback: the fault provider."""
    env = {**provider.as_fallback_env(), "TOKEN_BUDGET_USER_DAILY": "40"}
    with serving(Path(tmp_path_factory.mktemp("fallback")), env) as running:
        yield running


@pytest.fixture
async def guarded(guarded_server: DevServer, provider: FaultProvider) -> AsyncIterator[LangGraphClient]:
    provider.reset(default=Fault.http(500))
    yield connect(url=guarded_server.url)


async def _run(
    client: LangGraphClient,
    text: str,
    *,
    thread_id: str | None = None,
    assistant_id: str = "agent",
    stream_mode: list[str] | None = None,
) -> tuple[str, dict[str, Any], list[tuple[str, Any]]]:
    """One streamed run: (thread_id, final run record, [(event, data), ...])."""
    thread_id = thread_id or (await client.threads.create())["thread_id"]
    events: list[tuple[str, Any]] = []
    run_id = None
    async for part in client.runs.stream(
        thread_id,
        assistant_id,
        input={"messages": [{"role": "user", "content": text}]},
        stream_mode=stream_mode or ["values", "custom"],  # type: ignore[arg-type]
    ):
        events.append((part.event, part.data))
        if part.event == "metadata":
            run_id = part.data["run_id"]
    assert run_id is not None
    return thread_id, dict(await client.runs.get(thread_id, run_id)), events


def _guardrail_events(events: list[tuple[str, Any]], guardrail: str) -> list[dict[str, Any]]:
    return [
        data
        for event, data in events
        if event == "custom" and isinstance(data, dict) and data.get("guardrail") == guardrail
    ]


# --- retry ---------------------------------------------------------------------------------


async def test_two_rate_limits_then_success_backs_off_increasingly(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    provider.script(Fault.http(429), Fault.http(429), Reply("recovered"))
    thread_id, run, events = await _run(guarded, "hello")
    assert run["status"] == "success"
    assert last_ai_text(await guarded.threads.get_state(thread_id)) == "recovered"
    arrivals = [request.at for request in provider.requests]
    assert len(arrivals) == 3
    first_gap, second_gap = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    assert first_gap < second_gap, (first_gap, second_gap)
    retries = _guardrail_events(events, "retry")
    assert [event["detail"]["attempt"] for event in retries] == [1, 2]
    assert all(event["detail"]["status"] == 429 for event in retries)


async def test_retry_after_is_honoured_over_the_shorter_backoff(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    # Backoff alone makes the second wait ~2x the first; the provider's Retry-After makes the first longer.
    provider.script(Fault.http(429, retry_after=1.5), Fault.http(503), Reply("ok"))
    _, run, events = await _run(guarded, "hello")
    assert run["status"] == "success"
    arrivals = [request.at for request in provider.requests]
    assert arrivals[1] - arrivals[0] > arrivals[2] - arrivals[1]
    assert _guardrail_events(events, "retry")[0]["detail"]["retry_after"] == 1.5


async def test_a_read_timeout_is_retried(guarded: LangGraphClient, provider: FaultProvider) -> None:
    provider.script(Fault.hang(seconds=3), Reply("after the hang"))
    thread_id, run, events = await _run(guarded, "hello")
    assert run["status"] == "success"
    assert last_ai_text(await guarded.threads.get_state(thread_id)) == "after the hang"
    assert _guardrail_events(events, "retry")[0]["detail"]["error"] == "OpenAITimeoutError"


async def test_after_the_last_retry_the_error_surfaces(guarded: LangGraphClient, provider: FaultProvider) -> None:
    provider.reset(default=Fault.http(503))
    thread_id, run, events = await _run(guarded, "hello")
    assert run["status"] == "error"
    assert len(provider.requests) == 4  # the first try + MODEL_RETRY_MAX_RETRIES=3
    errors = json.dumps([data for event, data in events if event == "error"])
    assert "ModelUnavailableError" in errors and "try again later" in errors
    assert _guardrail_events(events, "retry")[-1]["action"] == "gave_up"
    # No error text dressed up as an answer: the thread holds no AI reply.
    values = (await guarded.threads.get_state(thread_id))["values"]
    assert not [m for m in values["messages"] if m["type"] == "ai"]


async def test_malformed_json_is_not_retried(guarded: LangGraphClient, provider: FaultProvider) -> None:
    provider.script(Fault.malformed(), Reply("never reached"))
    _, run, _events = await _run(guarded, "hello")
    assert run["status"] == "error"
    assert len(provider.requests) == 1


# --- call limits -----------------------------------------------------------------------------


async def test_a_looping_model_stops_at_the_run_limit_then_the_thread_limit(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    provider.reset(default=Reply.tool("ls", path="/"))
    thread_id, run, events = await _run(guarded, "list forever")
    assert run["status"] == "success"
    final = last_ai_text(await guarded.threads.get_state(thread_id))
    assert "limit of 4 model calls" in final and "MODEL_CALL_RUN_LIMIT" in final
    assert len(provider.requests) == 4
    assert _guardrail_events(events, "model_call_limit")[0]["action"] == "run_limit"

    _, run, events = await _run(guarded, "keep going", thread_id=thread_id)
    final = last_ai_text(await guarded.threads.get_state(thread_id))
    assert "conversation reached its limit of 6 model calls" in final
    assert len(provider.requests) == 6  # two more calls: 4 + 2 = the thread limit
    assert _guardrail_events(events, "model_call_limit")[0]["action"] == "thread_limit"

    fresh, _, _ = await _run(guarded, "a new thread starts from zero")
    assert "limit of 4 model calls" in last_ai_text(await guarded.threads.get_state(fresh))
    assert len(provider.requests) == 10


async def test_a_per_tool_limit_ends_the_run_with_a_clear_message(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    provider.reset(default=Reply.tool("glob", pattern="*"))
    thread_id, run, events = await _run(guarded, "glob forever")
    assert run["status"] == "success"
    final = last_ai_text(await guarded.threads.get_state(thread_id))
    assert "'glob' tool call limit reached" in final and "(3/2 calls)" in final
    assert _guardrail_events(events, "tool_call_limit")[0]["detail"]["tool"] == "glob"


# --- PII -------------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _raw_samples_in(value: Any) -> list[str]:
    """Corpus values found in any string of `value`, raw or JSON-escaped (tool arguments are JSON)."""
    texts = list(_strings(value))
    found = []
    for sample in CORPUS:
        forms = {sample["value"], json.dumps(sample["value"])[1:-1]}
        if any(form in text for text in texts for form in forms):
            found.append(f"{sample['type']}: {sample['value'][:24]}")
    return found


async def test_no_raw_pii_reaches_provider_stream_state_or_store(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    assistant = await guarded.assistants.create(graph_id="agent", name=f"pii-{uuid.uuid4().hex[:6]}")
    aid = assistant["assistant_id"]
    namespace = ["local", "private", aid, "local"]
    # A memory file holding raw PII that the user put there directly: the agent reads it as a tool result.
    await guarded.store.put_item(namespace, "/inbox.md", {"content": CORPUS_TEXT, "encoding": "utf-8"})
    provider.script(
        Reply.tool("read_file", file_path="/memories/inbox.md"),
        Reply.tool("write_file", file_path="/memories/copy.md", content=CORPUS_TEXT),  # model output -> memory
        Reply(f"Here is everything:\n{CORPUS_TEXT}"),  # model output -> reply
    )
    thread_id, run, events = await _run(
        guarded,
        f"please keep these safe:\n{CORPUS_TEXT}",  # user input
        assistant_id=aid,
        stream_mode=["values", "messages-tuple", "updates", "custom", "debug"],
    )
    assert run["status"] == "success", run
    assert len(provider.requests) == 3
    # ... nor any checkpoint of the thread, the first included (the input is filtered at the edge)
    history = await guarded.threads.get_history(thread_id, limit=100)
    assert _raw_samples_in([checkpoint["values"] for checkpoint in history]) == []

    assert _raw_samples_in([request.body for request in provider.requests]) == []
    assert _raw_samples_in([data for _event, data in events]) == []
    state = await guarded.threads.get_state(thread_id)
    assert _raw_samples_in(state["values"]) == []
    written = await guarded.store.get_item(namespace, "/copy.md")
    assert written is not None and _raw_samples_in(written["value"]) == []
    # Redaction is visible, not silent: the reply shows placeholders and the client got events.
    reply = last_ai_text(state)
    assert "[REDACTED_EMAIL]" in reply and "[REDACTED_SECRET]" in reply and "<ip_hash:" in reply
    assert {event["detail"]["where"] for event in _guardrail_events(events, "pii")} >= {
        "read_file result",
        "model output",
    }
    # The user's message was filtered at the HTTP edge, before the run stored anything.
    first_human = next(m for m in state["values"]["messages"] if m["type"] == "human")
    assert "[REDACTED_EMAIL]" in first_human["content"] and "[REDACTED_SECRET]" in first_human["content"]


async def test_streamed_values_and_messages_show_only_filtered_replies(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    provider.script(Reply(f"the card is {CORPUS[12]['value']} and mail {CORPUS[0]['value']}"))
    _, run, events = await _run(guarded, "what is on file?", stream_mode=["values", "messages-tuple"])
    assert run["status"] == "success"
    assert _raw_samples_in([data for _event, data in events]) == []
    assert any("[REDACTED_EMAIL]" in text for text in _strings([data for _e, data in events]))


async def test_deployment_rules_filter_the_user_message_before_an_assistants_stricter_rule(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    """PII_SECRET=redact (deployment) applies at the edge; the assistant's `block` then sees no secret.

    Deployment-wide rules run in the auth handler so no checkpoint ever holds the raw input; an
    assistant's stricter rules apply inside the graph to everything else (tool results, model output:
    see the next test)."""
    assistant = await guarded.assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": {"guardrails": {"pii_secret": "block"}}}}
    )
    provider.script(Reply("noted"))
    thread_id, run, _events = await _run(guarded, f"my key is {SECRET}", assistant_id=assistant["assistant_id"])
    assert run["status"] == "success"
    assert _raw_samples_in([request.body for request in provider.requests]) == []
    assert "[REDACTED_SECRET]" in json.dumps(provider.requests[0].body)
    assert SECRET not in json.dumps(provider.requests[0].body)
    history = await guarded.threads.get_history(thread_id, limit=50)
    assert SECRET not in json.dumps([checkpoint["values"] for checkpoint in history])


async def test_a_blocked_type_in_the_model_output_fails_the_run(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    assistant = await guarded.assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": {"guardrails": {"pii_secret": "block"}}}}
    )
    provider.script(Reply(f"sure, the key is {SECRET}"))
    thread_id, run, events = await _run(guarded, "tell me the key", assistant_id=assistant["assistant_id"])
    assert run["status"] == "error"
    errors = json.dumps([data for event, data in events if event == "error"])
    assert "PIIBlockedError" in errors and "model output" in errors
    assert _raw_samples_in([data for _e, data in events]) == []
    assert _raw_samples_in((await guarded.threads.get_state(thread_id))["values"]) == []


# --- fallback and budgets ----------------------------------------------------------------------


async def test_when_the_primary_refuses_connections_the_fallback_answers(
    fallback_server: DevServer, provider: FaultProvider
) -> None:
    provider.reset(default=Reply("answered by the fallback"))
    client = connect(url=fallback_server.url)
    thread_id, run, events = await _run(client, "hello")
    assert run["status"] == "success"
    assert last_ai_text(await client.threads.get_state(thread_id)) == "answered by the fallback"
    fallbacks = _guardrail_events(events, "fallback")
    assert fallbacks and fallbacks[0]["detail"]["model"] == "fault-model"
    assert "claude-primary" in fallbacks[0]["detail"]["failed"][0]


async def test_a_user_over_the_daily_budget_is_refused_before_the_model(
    fallback_server: DevServer, provider: FaultProvider
) -> None:
    provider.reset(default=Reply("within budget", prompt_tokens=10, completion_tokens=5))
    client = connect(url=fallback_server.url)
    # Each answered run costs 15 tokens against TOKEN_BUDGET_USER_DAILY=40 (other tests may have spent some).
    refusal = None
    for _ in range(4):
        before = len(provider.requests)
        thread_id, run, events = await _run(client, "hello")
        assert run["status"] == "success"
        if _guardrail_events(events, "budget"):
            refusal = last_ai_text(await client.threads.get_state(thread_id))
            assert len(provider.requests) == before  # refused before any provider call
            break
    assert refusal is not None and "daily token budget is used up" in refusal
    assert "TOKEN_BUDGET_USER_DAILY" in refusal
    days = await client.store.list_namespaces(prefix=["local", "budgets"])
    item = await client.store.get_item(days["namespaces"][0], "user:local")
    assert item is not None and item["value"]["tokens"] >= 40
    # the runbook's reset (docs/operations.md, Token budgets): an admin overwrites the day's counter
    await client.store.put_item(days["namespaces"][0], "user:local", {"tokens": 0})
    thread_id, run, events = await _run(client, "hello again")
    assert last_ai_text(await client.threads.get_state(thread_id)) == "within budget"
