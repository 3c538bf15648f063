"""Guardrails on every path, through real `langgraph dev` servers and the fault-injecting provider.

Each test attacks one path the main agent's guardrails used not to cover: `task` subagents, the
live token stream with PII filtering on, every stream mode (subgraphs included), direct state
writes (`update_state`, `command.update`), sandbox write-back into the store, concurrent runs
against a token budget, and a provider that drops the connection halfway through a streamed reply.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import (
    DEFAULT_HOST,
    DevServer,
    free_port,
    isolated_config,
    langgraph_command,
    spawn,
    wait_until_ready,
)
from tests.support.chat import last_ai_text
from tests.support.fault_provider import Fault, FaultProvider, Reply
from tests.support.postgres import scratch_database
from tests.support.server import BASE_ENV, POSTGRES_STORE, serving

EMAIL = "dana.scully@fbi.example.gov"
CARD = "4111 1111 1111 1111"
SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
IP = "203.0.113.77"
URL = "https://intranet.example.com/payroll"
RAW = (EMAIL, CARD, SECRET)
PII_TEXT = f"contact {EMAIL}, card {CARD}, key {SECRET}"
RUN_LIMIT = 8
SUBAGENT_CAP = 40  # the provider ends a runaway subagent itself after this many requests

GUARDED_ENV = {
    "MODEL": "openai:fault-model",
    "OPENAI_API_KEY": "test-key",
    "MODEL_TIMEOUT_SECONDS": "2",
    "MODEL_RETRY_MAX_RETRIES": "2",
    "MODEL_RETRY_INITIAL_DELAY": "0.1",
    "MODEL_RETRY_MAX_DELAY": "0.5",
    "MODEL_CALL_RUN_LIMIT": str(RUN_LIMIT),
    "PII_EMAIL": "redact",
    "PII_CREDIT_CARD": "mask",
    "PII_SECRET": "redact",
}
# No PII_* at all: the shipped defaults apply. Each model call reports 15 tokens: a budget of two calls.
DEFAULTS_ENV = {
    "MODEL": "openai:fault-model",
    "OPENAI_API_KEY": "test-key",
    "MODEL_TIMEOUT_SECONDS": "5",
    "TOKEN_BUDGET_USER_DAILY": "30",
}


@pytest.fixture(scope="module")
def guarded_server(provider: FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {**GUARDED_ENV, "OPENAI_BASE_URL": provider.base_url}
    with serving(Path(tmp_path_factory.mktemp("everywhere")), env) as running:
        yield running


def launch_concurrent(
    workdir: Path, env: dict[str, str], jobs: int = 20, overrides: dict[str, Any] | None = None
) -> DevServer:
    """`launch`, but running `jobs` runs at once (`langgraph dev` runs one at a time by default)."""
    full_env = {**BASE_ENV, **env}
    config = isolated_config(workdir, full_env, overrides)
    command = [*langgraph_command(DEFAULT_HOST, free_port(), config), "--n-jobs-per-worker", str(jobs)]
    port = command[command.index("--port") + 1]
    server = spawn(
        command,
        url=f"http://{DEFAULT_HOST}:{port}",
        env={**os.environ, **full_env},
        cwd=workdir,
        log_path=workdir / "server.log",
    )
    wait_until_ready(server, 120)
    return server


@pytest.fixture(scope="module")
def defaults_server(provider: FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {**DEFAULTS_ENV, "OPENAI_BASE_URL": provider.base_url}
    running = launch_concurrent(Path(tmp_path_factory.mktemp("defaults")), env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def postgres_budget_server(provider: FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """The defaults server's budget, on the PostgreSQL store (atomic in SQL rather than under a process lock)."""
    with scratch_database("das_budget") as uri:
        env = {**DEFAULTS_ENV, "OPENAI_BASE_URL": provider.base_url, "POSTGRES_URI": uri}
        running = launch_concurrent(Path(tmp_path_factory.mktemp("pg-budget")), env, overrides=POSTGRES_STORE)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
async def guarded(guarded_server: DevServer, provider: FaultProvider) -> AsyncIterator[LangGraphClient]:
    provider.reset(default=Fault.http(500))
    yield connect(url=guarded_server.url)


@pytest.fixture
async def defaults(defaults_server: DevServer, provider: FaultProvider) -> AsyncIterator[LangGraphClient]:
    provider.reset(default=Fault.http(500))
    yield connect(url=defaults_server.url)


# --- helpers ---------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def raw_in(value: Any, raw: tuple[str, ...] = RAW) -> list[str]:
    """The raw values found in any string of `value` (also JSON-escaped: tool arguments are JSON)."""
    texts = [*list(_strings(value)), json.dumps(value, default=str)]
    return [r for r in raw if any(r in text or json.dumps(r)[1:-1] in text for text in texts)]


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in body.get("tools", [])}


def is_subagent(body: dict[str, Any]) -> bool:
    """The main agent has the `task` tool; the general-purpose subagent does not."""
    return "task" not in _tool_names(body)


def _tool_results(body: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"]


async def run_streamed(
    client: LangGraphClient,
    text: str,
    *,
    thread_id: str | None = None,
    assistant_id: str = "agent",
    stream_mode: list[str] | None = None,
    subgraphs: bool = False,
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
        stream_subgraphs=subgraphs,
    ):
        events.append((part.event, part.data))
        if part.event == "metadata" and run_id is None:
            run_id = part.data["run_id"]
    assert run_id is not None
    return thread_id, dict(await client.runs.get(thread_id, run_id)), events


def guardrail_events(events: list[tuple[str, Any]], guardrail: str) -> list[dict[str, Any]]:
    return [
        data
        for event, data in events
        if event.startswith("custom") and isinstance(data, dict) and data.get("guardrail") == guardrail
    ]


async def history_values(client: LangGraphClient, thread_id: str) -> list[Any]:
    return [checkpoint["values"] for checkpoint in await client.threads.get_history(thread_id, limit=200)]


def delegate_then(final: str, subagent_step: Any) -> Any:
    """Main agent: one `task` call, then `final`; the subagent answers with `subagent_step(body)`."""

    def step(body: dict[str, Any]) -> Reply | Fault:
        if is_subagent(body):
            return subagent_step(body)  # type: ignore[no-any-return]
        if any(m.get("role") == "tool" for m in body.get("messages", [])):
            return Reply(final)
        return Reply.tool("task", description="look around the files", subagent_type="general-purpose")

    return step


# --- 1. subagents obey the same guardrails ----------------------------------------------------


async def test_a_looping_subagent_stops_at_the_parent_runs_limit(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    """MODEL_CALL_RUN_LIMIT counts the subagent's calls into the run: no 500-call loop."""
    subagent_calls = 0

    def loop_forever(body: dict[str, Any]) -> Reply:
        nonlocal subagent_calls
        subagent_calls += 1
        return Reply("giving up") if subagent_calls >= SUBAGENT_CAP else Reply.tool("ls", path="/")

    provider.reset(default=delegate_then("done", loop_forever))
    thread_id, run, events = await run_streamed(guarded, "find the report")
    assert run["status"] == "success", run
    assert len(provider.requests) <= RUN_LIMIT, f"{len(provider.requests)} model calls with a run limit of {RUN_LIMIT}"
    trips = guardrail_events(events, "model_call_limit")
    assert trips and trips[0]["detail"].get("subagent") == "general-purpose", trips
    assert f"limit of {RUN_LIMIT} model calls" in json.dumps(await history_values(guarded, thread_id))


async def test_pii_in_a_subagents_tool_result_never_reaches_the_provider_raw(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    assistant = await guarded.assistants.create(graph_id="agent", name=f"sub-pii-{uuid.uuid4().hex[:6]}")
    aid = assistant["assistant_id"]
    await guarded.store.put_item(
        ["local", "private", aid, "local"], "/inbox.md", {"content": PII_TEXT, "encoding": "utf-8"}
    )

    def read_then_report(body: dict[str, Any]) -> Reply:
        if _tool_results(body):
            return Reply("the inbox has a contact, a card and a key")
        return Reply.tool("read_file", file_path="/memories/inbox.md")

    provider.reset(default=delegate_then("all done", read_then_report))
    _thread_id, run, events = await run_streamed(
        guarded, "summarise my inbox", assistant_id=aid, stream_mode=["values", "custom"], subgraphs=True
    )
    assert run["status"] == "success", run
    subagent_requests = [r.body for r in provider.requests if is_subagent(r.body)]
    assert len(subagent_requests) == 2
    assert "[REDACTED_EMAIL]" in json.dumps(subagent_requests[1])  # the tool result was there, filtered
    assert raw_in([r.body for r in provider.requests]) == []
    pii_trips = guardrail_events(events, "pii")
    assert any(trip["detail"].get("subagent") == "general-purpose" for trip in pii_trips), pii_trips


# --- 2. replies stream token by token with PII on ---------------------------------------------


async def test_replies_stream_token_by_token_with_pii_filtering_on(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    words = " ".join(f"word{i}" for i in range(30))
    provider.script(Reply(f"{words} write to {EMAIL} or pay with {CARD} and never share {SECRET} ok {words}"))
    thread_id, run, events = await run_streamed(guarded, "hello", stream_mode=["messages-tuple", "values"])
    assert run["status"] == "success", run
    chunks = [data[0] for event, data in events if event == "messages" and data[0].get("type") == "AIMessageChunk"]
    texts = [c["content"] for c in chunks if isinstance(c.get("content"), str) and c["content"]]
    assert len(texts) >= 10, f"the reply came in {len(texts)} chunk(s), not token by token"
    streamed = "".join(texts)
    assert raw_in(streamed) == []
    assert "[REDACTED_EMAIL]" in streamed and "1111" in streamed and "[REDACTED_SECRET]" in streamed
    # what streamed is what was stored
    assert last_ai_text(await guarded.threads.get_state(thread_id)) == streamed


# --- 3. every stream mode and every state write -----------------------------------------------

ALL_MODES = ["values", "updates", "messages-tuple", "custom", "debug", "events", "tasks", "checkpoints"]


async def test_every_stream_mode_and_subgraph_stream_carries_no_raw_pii(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    assistant = await guarded.assistants.create(graph_id="agent", name=f"modes-{uuid.uuid4().hex[:6]}")
    aid = assistant["assistant_id"]
    await guarded.store.put_item(
        ["local", "private", aid, "local"], "/inbox.md", {"content": PII_TEXT, "encoding": "utf-8"}
    )

    def read_then_repeat(body: dict[str, Any]) -> Reply:
        if _tool_results(body):
            return Reply(f"found: {PII_TEXT}")
        return Reply.tool("read_file", file_path="/memories/inbox.md")

    provider.reset(default=delegate_then(f"summary: {PII_TEXT}", read_then_repeat))
    thread_id, run, events = await run_streamed(
        guarded, "summarise my inbox", assistant_id=aid, stream_mode=ALL_MODES, subgraphs=True
    )
    assert run["status"] == "success", run
    assert any("|" in event for event, _ in events), "no subgraph events were streamed"
    leaks = {event.split("|")[0] for event, data in events if raw_in(data)}
    assert leaks == set(), f"raw PII in stream modes {sorted(leaks)}"
    assert raw_in(await history_values(guarded, thread_id)) == []


async def test_update_state_is_filtered_before_it_is_stored(guarded: LangGraphClient, provider: FaultProvider) -> None:
    provider.script(Reply("hi"))
    thread_id, run, _ = await run_streamed(guarded, "hello")
    assert run["status"] == "success"
    await guarded.threads.update_state(thread_id, {"messages": [{"role": "user", "content": PII_TEXT}]})
    await guarded.threads.update_state(
        thread_id, {"messages": [{"role": "assistant", "content": f"noted {EMAIL}", "id": str(uuid.uuid4())}]}
    )
    values = await history_values(guarded, thread_id)
    assert raw_in(values) == []
    assert "[REDACTED_EMAIL]" in json.dumps(values)


async def test_command_update_is_filtered_before_it_is_stored(
    guarded: LangGraphClient, provider: FaultProvider
) -> None:
    provider.script(Reply("first"), Reply("second"))
    thread_id, run, _ = await run_streamed(guarded, "hello")
    assert run["status"] == "success"
    await guarded.runs.wait(
        thread_id,
        "agent",
        command={"update": {"messages": [{"role": "user", "content": PII_TEXT}]}},
        raise_error=False,
    )
    values = await history_values(guarded, thread_id)
    assert raw_in(values) == []


async def test_sandbox_write_back_into_the_store_is_filtered(guarded: LangGraphClient, provider: FaultProvider) -> None:
    assistant = await guarded.assistants.create(graph_id="agent", name=f"wb-{uuid.uuid4().hex[:6]}")
    aid = assistant["assistant_id"]
    # The PII exists only inside the sandbox (the command the model sends carries none of it).
    encoded = base64.b64encode(PII_TEXT.encode()).decode()
    command = f"mkdir -p /memories && echo {encoded} | base64 -d > /memories/leak.md && echo written"
    provider.script(Reply.tool("execute", command=command), Reply("saved"))
    _thread_id, run, _ = await run_streamed(guarded, "save it", assistant_id=aid)
    assert run["status"] == "success", run
    item = await guarded.store.get_item(["local", "private", aid, "local"], "/leak.md")
    assert item is not None, "write-back did not happen"
    assert raw_in(item["value"]) == []
    assert "[REDACTED_EMAIL]" in json.dumps(item["value"]) or "REDACTED_EMAIL" in str(item["value"])


# --- 6. a reply dropped mid-stream -------------------------------------------------------------


@pytest.mark.parametrize("clean", [False, True], ids=["connection-reset", "closed-without-finish"])
async def test_a_reply_dropped_mid_stream_is_retried_and_the_partial_abandoned(
    guarded: LangGraphClient, provider: FaultProvider, clean: bool
) -> None:
    provider.script(Fault.drop_after(2, "partial reply never finished", clean=clean), Reply("the complete answer"))
    thread_id, run, events = await run_streamed(guarded, "hello", stream_mode=["messages-tuple", "custom", "values"])
    assert run["status"] == "success", run
    assert len(provider.requests) == 2
    messages = (await guarded.threads.get_state(thread_id))["values"]["messages"]
    ai = [m for m in messages if m["type"] == "ai"]
    assert [m["content"] for m in ai] == ["the complete answer"]
    partial_ids = {
        data[0]["id"]
        for event, data in events
        if event == "messages" and "partial" in json.dumps(data[0].get("content", ""))
    }
    retries = guardrail_events(events, "retry")
    assert retries and retries[0]["detail"].get("abandoned_message_id") in partial_ids, (retries, partial_ids)
    assert ai[0]["id"] not in partial_ids


# --- defaults and budgets (a server with no PII_* set) ----------------------------------------


async def test_pii_filtering_is_on_by_default_for_email_card_and_secrets(
    defaults: LangGraphClient, provider: FaultProvider
) -> None:
    provider.script(Reply("noted"))
    thread_id, run, _ = await run_streamed(defaults, f"{PII_TEXT}; server {IP}; docs {URL}")
    assert run["status"] == "success", run
    sent = json.dumps(provider.requests[0].body)
    assert raw_in(sent) == [] and "[REDACTED_EMAIL]" in sent and "[REDACTED_SECRET]" in sent
    assert "****-****-****-1111" in sent or "**** **** **** 1111" in sent or "1111" in sent
    # IP addresses and URLs stay off by default: they are often what the user asks about
    assert IP in sent and URL in sent
    assert raw_in(await history_values(defaults, thread_id)) == []


async def test_an_assistants_block_on_the_user_message_ends_the_run_before_the_model(
    defaults: LangGraphClient, provider: FaultProvider
) -> None:
    """IPs are off at the edge here, so the raw address reaches the graph; the assistant's `block`
    stops the run there: the model is never called, and the state keeps the message redacted."""
    assistant = await defaults.assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": {"guardrails": {"pii_ip": "block"}}}}
    )
    provider.script(Reply("the model must not be asked"))
    thread_id, run, events = await run_streamed(defaults, f"ping {IP} please", assistant_id=assistant["assistant_id"])
    assert run["status"] == "success", run
    assert provider.requests == []
    state = await defaults.threads.get_state(thread_id)
    assert last_ai_text(state).startswith("Stopped: blocked: the user message contained 1 ip value(s)")
    assert IP not in json.dumps(state["values"]) and "[REDACTED_IP]" in json.dumps(state["values"])
    blocked = [data for event, data in events if event == "custom" and data.get("action") == "blocked"]
    assert blocked and blocked[0]["detail"]["pii_type"] == "ip"


@pytest.mark.parametrize("store", ["memory", "postgres"])
async def test_concurrent_runs_cannot_overspend_a_nearly_spent_budget(
    request: pytest.FixtureRequest, provider: FaultProvider, store: str
) -> None:
    """TOKEN_BUDGET_USER_DAILY=30 and every call costs 15 tokens: two calls, plus one reservation's overshoot."""
    server: DevServer = request.getfixturevalue("defaults_server" if store == "memory" else "postgres_budget_server")
    defaults = connect(url=server.url)
    # A slow provider: every run checks the budget while the first calls are still in flight.
    provider.reset(default=Reply("answer", prompt_tokens=10, completion_tokens=5, delay=1.0))
    provider.requests.clear()
    threads = [(await defaults.threads.create())["thread_id"] for _ in range(20)]
    spent_before = await _budget_used(defaults)
    assert spent_before == 0 or spent_before < 30, "another test spent the budget first"

    async def one(thread_id: str) -> Any:
        return await defaults.runs.wait(
            thread_id, "agent", input={"messages": [{"role": "user", "content": "hi"}]}, raise_error=False
        )

    results = await asyncio.gather(*(one(t) for t in threads))
    calls = len(provider.requests)
    allowed = (30 - spent_before + 14) // 15
    assert 1 <= calls <= allowed + 1, f"{calls} of 20 concurrent runs reached the model; the budget allows {allowed}"
    refusals = [r for r in results if "daily token budget is used up" in json.dumps(r)]
    assert len(refusals) == 20 - calls, "every run that did not reach the model was refused with the reason"
    print(f"budget ({store}): {calls} of 20 concurrent runs called the model; the budget allows {allowed}")


async def _budget_used(client: LangGraphClient) -> int:
    days = await client.store.list_namespaces(prefix=["local", "budgets"])
    if not days["namespaces"]:
        return 0
    item = await client.store.get_item(days["namespaces"][0], "user:local")
    return int(item["value"]["tokens"]) if item else 0


async def test_a_crons_input_is_filtered_before_it_is_stored(guarded: LangGraphClient) -> None:
    """A cron keeps its payload (the input of every firing) in the server's database: filtered first,
    on create and on an update of the input, as a run's input is."""
    thread = (await guarded.threads.create())["thread_id"]
    said = {"messages": [{"role": "user", "content": PII_TEXT}]}
    cron = await guarded.crons.create_for_thread(thread, "agent", schedule="0 0 1 1 *", input=said)
    try:
        assert raw_in(cron) == [] and raw_in(await guarded.crons.search(thread_id=thread)) == []
        patched = await guarded.http.client.patch(f"/runs/crons/{cron['cron_id']}", json={"input": said})
        assert patched.status_code == 200, patched.text
        assert raw_in(await guarded.crons.search(thread_id=thread)) == []
    finally:
        await guarded.crons.delete(cron["cron_id"])
