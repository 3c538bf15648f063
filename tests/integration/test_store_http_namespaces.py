"""The HTTP `/store` addresses the namespaces the agent's memory lives in, on both servers, and no further.

Admins write the org's policies and the assistants' shared memory over HTTP, reset a user's token
budget (docs/operations.md) and export or purge a tenant's memory; users read back what the agent
wrote about them. Aegra 0.11 buried every HTTP namespace under `("users", <caller>)`, so there each
of those acted on a namespace the agent never reads: an org policy never reached a run, a budget
reset reset nothing, and a user's own notes were invisible over HTTP. The service's store handler
(`tenancy/handlers.py`, `store_access`) is what keeps tenants apart, on both servers alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chat import last_ai_text
from tests.support.tenants import SERVER_KINDS, Tenants, tenant_server_of

POLICY = {"content": "Always answer in haiku, says the acme policy.", "encoding": "utf-8"}


@pytest.fixture(scope="module", params=SERVER_KINDS)
def tenants(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    workdir = Path(tmp_path_factory.mktemp(f"store-http-{request.param}"))
    with tenant_server_of(request.param, workdir) as running:
        yield running


async def _ask(tenants: Tenants, who: str, text: str) -> str:
    client = tenants.client(who)
    thread = (await client.threads.create())["thread_id"]
    result = await client.runs.wait(thread, "agent", input={"messages": [{"role": "user", "content": text}]})
    return last_ai_text(result)


async def _status(call: Any) -> int:
    try:
        await call
    except httpx.HTTPStatusError as error:
        return error.response.status_code
    return 200


async def test_an_org_policy_an_admin_puts_over_http_reaches_a_members_run(tenants: Tenants) -> None:
    await tenants.client("alice").store.put_item(("acme", "org"), "/haiku.md", POLICY)
    assert "answer in haiku" in await _ask(tenants, "bob", "read /policies/haiku.md")


async def test_what_the_agent_wrote_for_a_user_is_what_the_user_reads_over_http(tenants: Tenants) -> None:
    await _ask(tenants, "bob", "write /profile/likes.md\nquokkas and long walks")
    bob = tenants.client("bob")
    item = await bob.store.get_item(("acme", "user", "bob"), "/likes.md")
    assert item is not None and "quokkas" in str(item["value"]), item
    found = await bob.store.search_items(("acme", "user", "bob"))
    assert [i["key"] for i in found["items"]] == ["/likes.md"]
    listed = await bob.store.list_namespaces(prefix=["acme", "user", "bob"])
    assert ["acme", "user", "bob"] in [list(namespace) for namespace in listed["namespaces"]]


async def test_the_store_keeps_tenants_apart_on_every_route(tenants: Tenants) -> None:
    await _ask(tenants, "dave", "write /profile/secret.md\nglobex plans")
    bob, alice = tenants.client("bob"), tenants.client("alice")
    theirs = ("globex", "user", "dave")
    assert await _status(bob.store.get_item(theirs, "/secret.md")) == 403
    assert await _status(alice.store.get_item(theirs, "/secret.md")) == 403  # an admin of another org
    assert await _status(bob.store.search_items(("globex",))) == 403
    assert await _status(bob.store.put_item(theirs, "/secret.md", {"content": "x"})) == 403
    assert await _status(bob.store.delete_item(theirs, "/secret.md")) == 403
    assert await _status(bob.store.get_item(("acme", "user", "erin"), "/x.md")) == 403  # a colleague's
    assert await _status(bob.store.put_item(("acme", "org"), "/haiku.md", POLICY)) == 403  # read-only for members
    assert await _status(bob.store.list_namespaces()) == 403
    # an admin's listing without a prefix is their org's, never another org's
    listed = await alice.store.list_namespaces(max_depth=3)
    assert listed["namespaces"] and all(namespace[0] == "acme" for namespace in listed["namespaces"]), listed
    item = await tenants.client("dave").store.get_item(theirs, "/secret.md")
    assert item is not None and "globex plans" in str(item["value"])
