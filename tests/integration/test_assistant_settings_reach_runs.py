"""An assistant's settings reach every run of it, on both servers.

An admin stores `config.configurable.assistant_settings` on an assistant; each run of it is built
from them, whether or not the run sends a `config.configurable` of its own. langgraph-api merges
the run's `configurable` over the assistant's key by key; Aegra 0.11 replaces the assistant's whole
`configurable` with the run's (a shallow merge), and the `threads.create_run` handler makes up for
that. Members: a run config that only repeats the stored settings is allowed, a different value is
403. On Aegra assistants are per creator, so there a member runs the graph's system assistant and
gets 404 for an admin's.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.tenancy.identity import canonical_assistant_id
from tests.support.chat import last_ai_text
from tests.support.tenants import SERVER_KINDS, Tenants, tenant_server_of

ADMIN, MEMBER = "alice", "bob"  # both in acme
APPROVAL = {"interrupt_on": ["write_file"]}
APPROVE = {"resume": {"decisions": [{"type": "approve"}]}}


@pytest.fixture(scope="module", params=SERVER_KINDS)
def tenants(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    workdir = Path(tmp_path_factory.mktemp(f"settings-{request.param}"))
    with tenant_server_of(request.param, workdir) as running:
        yield running


def _says(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def _assistant(tenants: Tenants, settings: dict[str, Any]) -> str:
    # Aegra refuses a creator's second assistant with the same graph and config (409): one each.
    settings = {**settings, "instructions": f"assistant {uuid.uuid4()}"}
    config = {"configurable": {"assistant_settings": settings}}
    assistant = await tenants.client(ADMIN).assistants.create(graph_id="agent", config=config)
    return str(assistant["assistant_id"])


async def _read_on_a_new_thread(client: LangGraphClient, assistant_id: str, path: str) -> str:
    """What the agent reads at `path` on a fresh thread (the memory is read the way a person would:
    through the agent)."""
    thread = (await client.threads.create())["thread_id"]
    return last_ai_text(await client.runs.wait(thread, assistant_id, input=_says(f"read {path}")))


def _missing(reply: str) -> bool:
    return reply.startswith("Error: File") and re.search(r"not.found", reply) is not None


async def _run(tenants: Tenants, person: str, assistant_id: str, body: dict[str, Any]) -> httpx.Response:
    """A run posted as JSON, to see the status code of a refusal."""
    thread = (await tenants.client(person).threads.create())["thread_id"]
    headers = dict(tenants.headers[person])
    async with httpx.AsyncClient(base_url=tenants.url, headers=headers, timeout=120) as http:
        return await http.post(f"/threads/{thread}/runs/wait", json={"assistant_id": assistant_id, **body})


@pytest.mark.parametrize("own_configurable", [None, {"client_label": "nightly"}], ids=["plain", "own-configurable"])
async def test_an_assistant_that_needs_approval_pauses_and_writes_on_approval(
    tenants: Tenants, own_configurable: dict[str, Any] | None
) -> None:
    alice = tenants.client(ADMIN)
    assistant = await _assistant(tenants, APPROVAL)
    thread = (await alice.threads.create())["thread_id"]
    config = {"configurable": own_configurable} if own_configurable else None
    await alice.runs.wait(thread, assistant, input=_says("write /memories/x.md\nhello"), config=config)

    assert (await alice.threads.get(thread))["status"] == "interrupted", "write_file waits for approval"
    state = await alice.threads.get_state(thread)
    [interrupt] = [i for task in state["tasks"] for i in task["interrupts"]]
    assert interrupt["value"]["action_requests"][0]["name"] == "write_file"
    assert _missing(await _read_on_a_new_thread(alice, assistant, "/memories/x.md")), "nothing written yet"

    result = await alice.runs.wait(thread, assistant, command=APPROVE, config=config)
    assert last_ai_text(result) == "Updated file /memories/x.md"
    assert (await alice.threads.get(thread))["status"] == "idle"
    assert await _read_on_a_new_thread(alice, assistant, "/memories/x.md") == "Contents of /memories/x.md:\nhello"


async def test_an_assistant_without_the_memories_mount_keeps_nothing(tenants: Tenants) -> None:
    alice = tenants.client(ADMIN)
    assistant = await _assistant(tenants, {"mounts": ["profile"]})
    thread = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(thread, assistant, input=_says("write /memories/x.md\nhello"))
    # /memories/ is no mount of this assistant: the file was a scratch file of that thread only
    assert _missing(await _read_on_a_new_thread(alice, assistant, "/memories/x.md"))

    default = await _assistant(tenants, {})
    await alice.runs.wait((await alice.threads.create())["thread_id"], default, input=_says("write /memories/x.md\nhi"))
    kept = await _read_on_a_new_thread(alice, default, "/memories/x.md")
    assert kept == "Contents of /memories/x.md:\nhi", "the same write, kept by an assistant with all mounts"


async def test_a_member_may_echo_the_stored_settings_but_not_change_them(tenants: Tenants) -> None:
    system = canonical_assistant_id("agent")  # visible to every member on both servers
    stored = (await tenants.client(MEMBER).assistants.get(system))["config"].get("configurable", {})
    echo = {"config": {"configurable": {"assistant_settings": stored.get("assistant_settings") or {}}}}
    echoed = await _run(tenants, MEMBER, system, {"input": _says("plan: a; b"), **echo})
    assert echoed.status_code == 200, echoed.text

    override = {"config": {"configurable": {"assistant_settings": {"mounts": ["profile"]}}}}
    refused = await _run(tenants, MEMBER, system, {"input": _says("plan: a; b"), **override})
    assert refused.status_code == 403, refused.text
    assert "belongs to the assistant" in refused.text

    admins = await _assistant(tenants, APPROVAL)
    theirs = await _run(tenants, MEMBER, admins, {"input": _says("write /memories/x.md\nhello")})
    if tenants.kind == "aegra":
        assert theirs.status_code == 404, "on Aegra an assistant is its creator's alone"
    else:
        assert theirs.status_code == 200, theirs.text
        assert theirs.json()["__interrupt__"], "the admin's assistant pauses the member's write too"


async def _cron_run_on_a_new_thread(tenants: Tenants, assistant_id: str, text: str, config: Any) -> str:
    """The thread of a cron's first run, once it ended or paused. Aegra fires a new cron's first run at
    once; langgraph-api on its schedule (every minute here; the cron is deleted after its first run)."""
    client = tenants.client(ADMIN)
    thread = (await client.threads.create())["thread_id"]
    schedule = "0 0 1 1 *" if tenants.kind == "aegra" else "* * * * *"
    await client.crons.create_for_thread(thread, assistant_id, schedule=schedule, input=_says(text), config=config)
    [cron] = await client.crons.search(thread_id=thread)  # Aegra answers the create with the first run
    try:
        for _ in range(150):
            runs = await client.runs.list(thread)
            if runs and runs[0]["status"] not in ("pending", "running"):
                return str(thread)
            await asyncio.sleep(0.5)
        raise AssertionError(f"the cron's run on {thread} did not end within 75 s: {runs}")
    finally:
        await client.crons.delete(cron["cron_id"])


@pytest.mark.parametrize("own_configurable", [None, {"client_label": "nightly"}], ids=["plain", "own-configurable"])
async def test_a_cron_run_of_an_assistant_keeps_its_settings(
    tenants: Tenants, own_configurable: dict[str, Any] | None
) -> None:
    alice = tenants.client(ADMIN)
    assistant = await _assistant(tenants, APPROVAL)
    config = {"configurable": own_configurable} if own_configurable else None
    thread = await _cron_run_on_a_new_thread(tenants, assistant, "write /memories/cron.md\nnightly", config)
    assert (await alice.threads.get(thread))["status"] == "interrupted", "the cron's write_file waits for approval"
    assert _missing(await _read_on_a_new_thread(alice, assistant, "/memories/cron.md")), "nothing written yet"


async def test_a_cron_run_writes_its_assistants_memory(tenants: Tenants) -> None:
    """A cron's run acts for its assistant: what it writes to /memories/ (the assistant and user's
    private scope), a run of the same assistant reads; a run of another assistant does not."""
    alice = tenants.client(ADMIN)
    assistant, other = await _assistant(tenants, {}), await _assistant(tenants, {})
    config = {"configurable": {"client_label": "nightly"}}
    await _cron_run_on_a_new_thread(tenants, assistant, "write /memories/cron.md\nfrom the cron", config)
    assert await _read_on_a_new_thread(alice, assistant, "/memories/cron.md") == (
        "Contents of /memories/cron.md:\nfrom the cron"
    )
    assert _missing(await _read_on_a_new_thread(alice, other, "/memories/cron.md"))


async def test_a_cron_never_stores_its_input_with_pii(tenants: Tenants) -> None:
    """langgraph-api stores the cron's payload as the handler filtered it; Aegra stores what was sent
    whatever the handler does, so there a cron whose input holds PII is refused."""
    alice = tenants.client(ADMIN)
    thread = (await alice.threads.create())["thread_id"]
    said = _says("mail the report to dana.scully@fbi.example.gov")
    if tenants.kind == "aegra":
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await alice.crons.create_for_thread(thread, "agent", schedule="0 0 1 1 *", input=said)
        assert refused.value.response.status_code == 422 and "PII" in refused.value.response.text
        assert await alice.crons.search(thread_id=thread) == []
        return
    await alice.crons.create_for_thread(thread, "agent", schedule="0 0 1 1 *", input=said)
    [cron] = await alice.crons.search(thread_id=thread)
    try:
        assert "dana.scully" not in json.dumps(cron) and "[REDACTED_EMAIL]" in json.dumps(cron)
    finally:
        await alice.crons.delete(cron["cron_id"])
