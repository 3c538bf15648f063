"""Every write of a memory file keeps the memory rules, whichever path it takes: the HTTP `/store`
API like the agent's file tools. Oversized values and writes past the file count get a 4xx naming
the limit; `written_by` always comes from the verified caller, never from the client.
Through a real `langgraph dev` server and a real Aegra, in `api_keys` mode with small limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chat import ask
from tests.support.tenants import SERVER_KINDS, Tenants, tenant_server_of

MAX_FILE_BYTES, MAX_FILES = 300, 3
BOB = ("acme", "user", "bob")


@pytest.fixture(scope="module", params=SERVER_KINDS)
def tenants(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    env = {"MEMORY_MAX_FILE_BYTES": str(MAX_FILE_BYTES), "MEMORY_MAX_FILES": str(MAX_FILES)}
    workdir = Path(tmp_path_factory.mktemp(f"store-writes-{request.param}"))
    with tenant_server_of(request.param, workdir, env) as running:
        yield running


async def put(tenants: Tenants, name: str, namespace: tuple[str, ...], key: str, value: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=tenants.url, headers=dict(tenants.headers[name])) as http:
        return await http.put("/store/items", json={"namespace": list(namespace), "key": key, "value": value})


async def stored(tenants: Tenants, name: str, namespace: tuple[str, ...], key: str) -> Any:
    """The item, or None when nothing is stored (langgraph-api answers null, Aegra 404)."""
    try:
        return await tenants.client(name).store.get_item(namespace, key)
    except httpx.HTTPStatusError as missing:
        if missing.response.status_code == 404:
            return None
        raise


@pytest.mark.parametrize(
    "value",
    [
        {"content": "x" * (MAX_FILE_BYTES + 1), "encoding": "utf-8"},
        {"content": ["y" * 200, "y" * 200], "encoding": "utf-8"},  # deepagents' list-of-lines form
        {"content": "", "attachment": "z" * (MAX_FILE_BYTES + 1)},  # a payload beside an empty content
    ],
    ids=["string", "lines", "beside-content"],
)
async def test_an_oversized_value_is_refused_naming_the_limit(tenants: Tenants, value: dict[str, Any]) -> None:
    response = await put(tenants, "bob", BOB, "/big.md", value)
    assert response.status_code == 413, response.text
    assert "MEMORY_MAX_FILE_BYTES" in response.text and str(MAX_FILE_BYTES) in response.text
    assert await stored(tenants, "bob", BOB, "/big.md") is None


async def test_a_file_past_the_count_is_refused_but_overwriting_one_is_not(tenants: Tenants) -> None:
    namespace = ("acme", "private", "count-test", "bob")
    for index in range(MAX_FILES):
        assert (await put(tenants, "bob", namespace, f"/{index}.md", {"content": "ok"})).status_code == 204
    refused = await put(tenants, "bob", namespace, "/one-too-many.md", {"content": "no"})
    assert refused.status_code == 409, refused.text
    assert f"MEMORY_MAX_FILES={MAX_FILES}" in refused.text
    assert await stored(tenants, "bob", namespace, "/one-too-many.md") is None
    assert (await put(tenants, "bob", namespace, "/0.md", {"content": "edited"})).status_code == 204
    assert (await stored(tenants, "bob", namespace, "/0.md"))["value"]["content"] == "edited"


async def test_a_client_supplied_written_by_is_replaced_by_the_verified_caller(tenants: Tenants) -> None:
    forged = {"content": "hello", "written_by": {"user": "alice", "org": "acme", "run_id": "r-1"}}
    assert (await put(tenants, "bob", BOB, "/forged.md", forged)).status_code == 204
    written_by = (await stored(tenants, "bob", BOB, "/forged.md"))["value"]["written_by"]
    assert (written_by["user"], written_by["org"], written_by["via"]) == ("bob", "acme", "http")
    assert written_by["run_id"] is None and written_by["at"]


async def test_admin_writes_over_http_are_stamped_too(tenants: Tenants) -> None:
    policy = {"content": "be kind", "encoding": "utf-8", "written_by": {"user": "system"}}
    assert (await put(tenants, "alice", ("acme", "org"), "/policy.md", policy)).status_code == 204
    written_by = (await stored(tenants, "bob", ("acme", "org"), "/policy.md"))["value"]["written_by"]
    assert (written_by["user"], written_by["org"], written_by["via"]) == ("alice", "acme", "http")


async def test_the_agents_file_tools_stamp_the_same_way(tenants: Tenants) -> None:
    bob = tenants.client("bob")
    system = await bob.assistants.search(graph_id="agent", metadata={"created_by": "system"})
    await ask(bob, "remember my cat is called Tiger")
    item = await bob.store.get_item(("acme", "private", system[0]["assistant_id"], "bob"), "/notes.md")
    written_by = item["value"]["written_by"]
    assert (written_by["user"], written_by["org"], written_by["via"]) == ("bob", "acme", "agent")
    assert written_by["run_id"]
