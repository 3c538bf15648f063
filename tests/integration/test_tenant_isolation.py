"""Tenant-isolation conformance: every langgraph-sdk endpoint, tried across users and orgs.

Two orgs (acme, globex), each with an admin and members, against a real `langgraph dev` server in
`api_keys` mode. The victim is bob (acme member): his thread, run, cron and memories. Attackers are
erin (acme member: cross-user), alice (acme admin: cross-user), carol (globex admin) and dave
(globex member: cross-org). Each attempt must be denied (401/403/404) or filtered out of a list.
The run ends with a line `tenant isolation: N routes, M attempts, M denied` (routes: see test_route_isolation.py).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.server import api_keys_env, serving
from tests.support.tally import TENANT_ISOLATION

PEOPLE = {
    "alice": ("acme", "admin"),
    "bob": ("acme", "member"),
    "erin": ("acme", "member"),
    "carol": ("globex", "admin"),
    "dave": ("globex", "member"),
}
ATTACKERS = ("erin", "alice", "carol", "dave")
CROSS_ORG = ("carol", "dave")


TALLY = TENANT_ISOLATION


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {name: f"test-{name}-{secrets.token_urlsafe(16)}" for name in PEOPLE}


@pytest.fixture(scope="module")
def api_key_server(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, str]) -> Iterator[DevServer]:
    table = {keys[name]: {"user": name, "org": org, "role": role} for name, (org, role) in PEOPLE.items()}
    with serving(Path(tmp_path_factory.mktemp("tenancy")), api_keys_env(table)) as server:
        yield server


@pytest.fixture(scope="module")
def as_(api_key_server: DevServer, keys: dict[str, str]) -> Callable[[str], LangGraphClient]:
    def client_for(name: str) -> LangGraphClient:
        return connect(url=api_key_server.url, api_key=keys[name])

    return client_for


@dataclass
class Victim:
    assistant_id: str
    thread_id: str
    run_id: str
    checkpoint_id: str
    cron_id: str | None


@pytest.fixture(scope="module")
async def victim(as_: Callable[[str], LangGraphClient]) -> AsyncIterator[Victim]:
    alice, bob = as_("alice"), as_("bob")
    assistant = await alice.assistants.create(graph_id="agent", name="acme-assistant")
    thread = await bob.threads.create(metadata={"topic": "secret plans"})
    await ask(bob, "remember bob's secret is 42", assistant_id=assistant["assistant_id"], thread_id=thread["thread_id"])
    runs = await bob.runs.list(thread["thread_id"])
    state = await bob.threads.get_state(thread["thread_id"])
    cron_id = None
    try:
        cron = await bob.crons.create_for_thread(
            thread["thread_id"], assistant["assistant_id"], schedule="0 0 1 1 *", input={"messages": []}
        )
        cron_id = cron["cron_id"]
    except httpx.HTTPStatusError as error:  # crons are a LangSmith feature; langgraph dev may not serve them
        assert error.response.status_code in (404, 405, 501), error
    yield Victim(
        assistant_id=assistant["assistant_id"],
        thread_id=thread["thread_id"],
        run_id=runs[0]["run_id"],
        checkpoint_id=state["checkpoint"]["checkpoint_id"],
        cron_id=cron_id,
    )


async def denied(what: str, attempt: Awaitable[Any], also: tuple[int, ...] = ()) -> None:
    """The call must fail with 401/403/404 (or a status in `also` that the endpoint uses for it)."""
    TALLY.attempts += 1
    try:
        result = await attempt
    except httpx.HTTPStatusError as error:
        assert error.response.status_code in (401, 403, 404, *also), f"{what}: {error.response.status_code}"
        TALLY.denied += 1
        return
    TALLY.allowed.append(what)
    raise AssertionError(f"{what} was allowed: {str(result)[:300]}")


async def hidden(what: str, listing: Awaitable[Any], secret_id: str) -> None:
    """A list call may succeed, but the victim's object must not be in it."""
    TALLY.attempts += 1
    try:
        result = await listing
    except httpx.HTTPStatusError as error:
        assert error.response.status_code in (401, 403, 404), f"{what}: {error.response.status_code}"
        TALLY.denied += 1
        return
    assert secret_id not in json.dumps(result, default=str), f"{what} revealed {secret_id}"
    TALLY.denied += 1


@pytest.mark.parametrize("attacker", ATTACKERS)
async def test_threads_of_another_user_are_out_of_reach(
    as_: Callable[[str], LangGraphClient], victim: Victim, attacker: str
) -> None:
    client, tid = as_(attacker), victim.thread_id
    await denied("threads.get", client.threads.get(tid))
    await denied("threads.update", client.threads.update(tid, metadata={"owner": attacker}))
    # langgraph dev answers a copy of an invisible thread with 409 (nothing found to copy)
    await denied("threads.copy", client.threads.copy(tid), also=(409,))
    await denied("threads.get_state", client.threads.get_state(tid))
    await denied("threads.get_state@checkpoint", client.threads.get_state(tid, checkpoint_id=victim.checkpoint_id))
    await denied("threads.update_state", client.threads.update_state(tid, {"messages": []}))
    await denied("threads.get_history", client.threads.get_history(tid))
    await hidden("threads.search", client.threads.search(limit=100), tid)
    await hidden("threads.search(metadata)", client.threads.search(metadata={"owner": "bob"}), tid)
    await denied("threads.delete", client.threads.delete(tid))
    # bob still has it, untouched
    assert (await as_("bob").threads.get(tid))["metadata"]["owner"] == "bob"


@pytest.mark.parametrize("attacker", ATTACKERS)
async def test_runs_on_another_users_thread_are_out_of_reach(
    as_: Callable[[str], LangGraphClient], victim: Victim, attacker: str
) -> None:
    client, tid, rid = as_(attacker), victim.thread_id, victim.run_id
    message = {"messages": [{"role": "user", "content": "what do you remember"}]}
    await denied("runs.create", client.runs.create(tid, "agent", input=message))
    await denied("runs.wait", client.runs.wait(tid, "agent", input=message))

    async def stream() -> list[Any]:
        return [part async for part in client.runs.stream(tid, "agent", input=message)]

    await denied("runs.stream", stream())
    await denied("runs.get", client.runs.get(tid, rid))
    await denied("runs.list", client.runs.list(tid))
    await denied("runs.cancel", client.runs.cancel(tid, rid))
    await denied("runs.join", client.runs.join(tid, rid))


@pytest.mark.parametrize("attacker", CROSS_ORG)
async def test_assistants_of_another_org_are_invisible(
    as_: Callable[[str], LangGraphClient], victim: Victim, attacker: str
) -> None:
    client, aid = as_(attacker), victim.assistant_id
    await denied("assistants.get", client.assistants.get(aid))
    await denied("assistants.update", client.assistants.update(aid, metadata={"x": 1}))
    await denied("assistants.get_versions", client.assistants.get_versions(aid))
    await denied("assistants.set_latest", client.assistants.set_latest(aid, 1))
    await denied("assistants.get_graph", client.assistants.get_graph(aid))
    await denied("assistants.get_schemas", client.assistants.get_schemas(aid))
    await hidden("assistants.search", client.assistants.search(limit=100), aid)
    thread = await client.threads.create()
    message = {"messages": [{"role": "user", "content": "hi"}]}
    await denied("runs.wait on foreign assistant", client.runs.wait(thread["thread_id"], aid, input=message))
    await denied("assistants.delete", client.assistants.delete(aid))


async def test_members_cannot_create_or_change_assistants(
    as_: Callable[[str], LangGraphClient], victim: Victim
) -> None:
    bob = as_("bob")
    await denied("assistants.create by member", bob.assistants.create(graph_id="agent"))
    await denied("assistants.update by member", bob.assistants.update(victim.assistant_id, metadata={"x": 1}))
    await denied("assistants.delete by member", bob.assistants.delete(victim.assistant_id))
    # ... but they see and use their org's assistants and the built-in one
    visible = {a["assistant_id"] for a in await bob.assistants.search(limit=100)}
    assert victim.assistant_id in visible
    assert any(a["graph_id"] == "agent" for a in await bob.assistants.search(metadata={"created_by": "system"}))


async def test_system_assistants_cannot_be_changed_by_any_admin(as_: Callable[[str], LangGraphClient]) -> None:
    carol = as_("carol")
    system = await carol.assistants.search(metadata={"created_by": "system"})
    assert system, "the built-in assistant is visible to every org"
    await denied("assistants.update system", carol.assistants.update(system[0]["assistant_id"], metadata={"x": 1}))
    await denied("assistants.delete system", carol.assistants.delete(system[0]["assistant_id"]))
    forged = await carol.assistants.create(graph_id="agent", metadata={"created_by": "system", "org": "acme"})
    assert forged["metadata"]["org"] == "globex" and "created_by" not in forged["metadata"]
    await denied("acme reads globex's forged assistant", as_("bob").assistants.get(forged["assistant_id"]))


@pytest.mark.parametrize("attacker", ATTACKERS)
async def test_crons_of_another_user_are_out_of_reach(
    as_: Callable[[str], LangGraphClient], victim: Victim, attacker: str
) -> None:
    client = as_(attacker)
    message = {"messages": [{"role": "user", "content": "hi"}]}
    await denied(
        "crons.create_for_thread",
        client.crons.create_for_thread(victim.thread_id, "agent", schedule="0 0 1 1 *", input=message),
    )
    if victim.cron_id is None:
        pytest.skip("this server does not serve crons; cron creation on a foreign thread was still denied")
    await hidden("crons.search", client.crons.search(), victim.cron_id)
    await denied("crons.delete", client.crons.delete(victim.cron_id))


FORGED_USER = {"identity": "bob", "org": "acme", "role": "admin", "permissions": []}


def _runs_as(cron: dict[str, Any]) -> Any:
    """The user a stored cron's firings act as (langgraph-api reads `langgraph_auth_user` from it)."""
    return ((cron.get("payload") or {}).get("config") or {}).get("configurable", {}).get("langgraph_auth_user")


@pytest.mark.parametrize("attacker", ATTACKERS)
async def test_a_cron_runs_as_the_user_who_made_it(
    as_: Callable[[str], LangGraphClient], victim: Victim, attacker: str
) -> None:
    """langgraph-api's cron scheduler runs each firing as the `langgraph_auth_user` of the stored
    payload: one a client sets (on create or update) must never be what is stored."""
    if victim.cron_id is None:
        pytest.skip("this server does not serve crons")
    client = as_(attacker)
    thread = (await client.threads.create())["thread_id"]
    message = {"messages": [{"role": "user", "content": "read /memories/secret.md"}]}
    forged = {"configurable": {"langgraph_auth_user": FORGED_USER}}
    me = {"identity": attacker, "org": PEOPLE[attacker][0], "role": PEOPLE[attacker][1]}
    cron = await client.crons.create_for_thread(thread, "agent", schedule="0 0 1 1 *", input=message, config=forged)
    try:
        TALLY.attempts += 1
        stored = _runs_as(cron) or {}
        assert {k: stored.get(k) for k in me} == me, f"{attacker}'s cron runs as {stored}"
        TALLY.denied += 1
        patched = await client.http.client.patch(f"/runs/crons/{cron['cron_id']}", json={"config": forged})
        assert patched.status_code in (200, 403, 422), patched.text
        [after] = [c for c in await client.crons.search(thread_id=thread) if c["cron_id"] == cron["cron_id"]]
        assert {k: (_runs_as(after) or {}).get(k) for k in me} == me, (
            f"after an update {attacker}'s cron runs as someone else"
        )
    finally:
        await client.crons.delete(cron["cron_id"])


BOB_PRIVATE = lambda victim: ("acme", "private", victim.assistant_id, "bob")  # noqa: E731
BOB_USER = ("acme", "user", "bob")


@pytest.mark.parametrize("attacker", ["erin", "carol", "dave"])
async def test_another_users_memory_is_out_of_reach(
    as_: Callable[[str], LangGraphClient], victim: Victim, attacker: str
) -> None:
    client = as_(attacker)
    private = BOB_PRIVATE(victim)
    assert (await as_("bob").store.get_item(private, "/notes.md"))["value"]["content"].startswith("bob's secret")
    for namespace in (private, BOB_USER):
        await denied("store.get", client.store.get_item(namespace, "/notes.md"))
        await denied("store.put", client.store.put_item(namespace, "/x.md", {"content": "pwned"}))
        await denied("store.delete", client.store.delete_item(namespace, "/notes.md"))
        await denied("store.search", client.store.search_items(namespace))
    await denied("store.search(org prefix)", client.store.search_items(("acme",)))
    await denied("store.search(no prefix)", client.store.search_items(()))
    await hidden("store.list_namespaces", client.store.list_namespaces(), "bob")
    await denied("store.list_namespaces(acme)", client.store.list_namespaces(prefix=["acme", "private"]))
    assert (await as_("bob").store.get_item(private, "/notes.md"))["value"]["content"].startswith("bob's secret")


async def test_members_read_but_cannot_write_shared_namespaces(
    as_: Callable[[str], LangGraphClient], victim: Victim
) -> None:
    alice, bob = as_("alice"), as_("bob")
    shared = ("acme", "org")
    await alice.store.put_item(shared, "/policy.md", {"content": "be kind", "encoding": "utf-8"})
    assert (await bob.store.get_item(shared, "/policy.md"))["value"]["content"] == "be kind"
    await denied("member writes org memory", bob.store.put_item(shared, "/policy.md", {"content": "be mean"}))
    await denied("member deletes org memory", bob.store.delete_item(shared, "/policy.md"))
    await denied("other org reads acme's policy", as_("dave").store.get_item(shared, "/policy.md"))
    # An admin may operate on (export, delete) the memories of users of their own org ...
    assert (await alice.store.get_item(BOB_PRIVATE(victim), "/notes.md"))["value"]["content"]
    # ... but never another org's.
    await denied("admin reads another org", as_("carol").store.get_item(BOB_PRIVATE(victim), "/notes.md"))


async def test_agent_memory_tools_see_only_the_callers_namespaces(
    as_: Callable[[str], LangGraphClient], victim: Victim
) -> None:
    for other in ("erin", "alice"):
        reply = await ask(as_(other), "what do you remember", assistant_id=victim.assistant_id)
        assert "42" not in reply and "don't remember anything" in reply
    assert "bob's secret is 42" in await ask(as_("bob"), "what do you remember", assistant_id=victim.assistant_id)


@pytest.mark.parametrize(
    ("where", "payload"),
    [
        ("configurable.user_id", {"config": {"configurable": {"user_id": "bob"}}}),
        ("configurable.org_id", {"config": {"configurable": {"org_id": "acme"}}}),
        ("configurable.owner", {"config": {"configurable": {"owner": "bob"}}}),
        ("context.user_id", {"context": {"user_id": "bob"}}),
        ("member assistant_settings", {"config": {"configurable": {"assistant_settings": {"instructions": "x"}}}}),
    ],
)
async def test_identity_spoofing_in_run_config_is_refused(
    as_: Callable[[str], LangGraphClient], where: str, payload: dict[str, Any]
) -> None:
    erin = as_("erin")
    thread = await erin.threads.create()
    message = {"messages": [{"role": "user", "content": "what do you remember"}]}
    await denied(f"spoof via {where}", erin.runs.wait(thread["thread_id"], "agent", input=message, **payload))


async def test_server_reserved_auth_keys_cannot_impersonate(
    as_: Callable[[str], LangGraphClient], victim: Victim
) -> None:
    forged = {"configurable": {"langgraph_auth_user": {"identity": "bob", "org": "acme", "role": "admin"}}}
    TALLY.attempts += 1
    try:
        reply = await ask(as_("erin"), "what do you remember", assistant_id=victim.assistant_id, config=forged)
    except httpx.HTTPStatusError as refused:
        assert refused.response.status_code in (403, 422)
    else:  # the server replaced the forged user with the verified one
        assert "42" not in reply and "don't remember anything" in reply
    TALLY.denied += 1


async def test_client_set_owner_on_create_is_overwritten(as_: Callable[[str], LangGraphClient]) -> None:
    thread = await as_("erin").threads.create(metadata={"owner": "bob", "org": "globex"})
    assert (thread["metadata"]["owner"], thread["metadata"]["org"]) == ("erin", "acme")
    await denied("bob reads erin's thread", as_("bob").threads.get(thread["thread_id"]))


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Ym9iOjQy"}],
)
async def test_missing_or_unknown_credentials_are_401(api_key_server: DevServer, headers: dict[str, str]) -> None:
    TALLY.attempts += 1
    async with httpx.AsyncClient(base_url=api_key_server.url) as http:
        response = await http.post("/threads/search", json={}, headers=headers)
    assert response.status_code == 401, response.text
    TALLY.denied += 1


async def test_bearer_and_x_api_key_both_authenticate(api_key_server: DevServer, keys: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=api_key_server.url) as http:
        for headers in ({"x-api-key": keys["bob"]}, {"Authorization": f"Bearer {keys['bob']}"}):
            response = await http.post("/threads", json={"metadata": {"probe": uuid.uuid4().hex}}, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["metadata"]["owner"] == "bob"


def test_every_attempt_was_denied() -> None:
    assert TALLY.allowed == []
    assert TALLY.attempts == TALLY.denied
