"""The HTTP edge of a real server: the request body cap (413 before anything is parsed or stored),
assistant settings validated when written (422 naming the key), and what answers without
credentials (liveness and readiness: yes; model, auth mode, metrics: admins only).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.tenants import Tenants, tenant_server

MAX_REQUEST_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    env = {"MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES)}
    with tenant_server("api_keys", Path(tmp_path_factory.mktemp("edge")), env) as running:
        yield running


async def request(tenants: Tenants, name: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = dict(tenants.headers[name]) if name else {}
    async with httpx.AsyncClient(base_url=tenants.url, headers=headers, timeout=60) as http:
        return await http.request(method, path, **kwargs)


async def count_threads(tenants: Tenants, name: str) -> int:
    return int((await request(tenants, name, "POST", "/threads/count", json={})).json())


async def test_an_oversized_body_is_refused_before_it_is_stored(tenants: Tenants) -> None:
    before = await count_threads(tenants, "bob")
    big = {"metadata": {"blob": "x" * (MAX_REQUEST_BYTES + 1)}}
    response = await request(tenants, "bob", "POST", "/threads", json=big)
    assert response.status_code == 413, response.text
    assert "MAX_REQUEST_BYTES" in response.json()["detail"]
    assert await count_threads(tenants, "bob") == before
    ok = await request(tenants, "bob", "POST", "/threads", json={"metadata": {"blob": "x" * 1000}})
    assert ok.status_code == 200 and await count_threads(tenants, "bob") == before + 1


async def test_a_chunked_body_past_the_cap_is_refused_too(tenants: Tenants) -> None:
    before = await count_threads(tenants, "bob")
    payload = json.dumps({"metadata": {"blob": "y" * (2 * MAX_REQUEST_BYTES)}}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    response = await request(
        tenants, "bob", "POST", "/threads", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert await count_threads(tenants, "bob") == before


async def test_an_oversized_store_write_is_refused_at_the_edge(tenants: Tenants) -> None:
    item = {"namespace": ["acme", "user", "bob"], "key": "/big.md", "value": {"content": "z" * MAX_REQUEST_BYTES}}
    assert (await request(tenants, "bob", "PUT", "/store/items", json=item)).status_code == 413
    assert await tenants.client("bob").store.get_item(("acme", "user", "bob"), "/big.md") is None


@pytest.mark.parametrize("body", [{}, {"namespace_prefix": None}, {"namespace_prefix": "acme"}, {"limit": 5}])
async def test_a_store_search_without_a_namespace_prefix_list_is_told_what_is_missing(
    tenants: Tenants, body: dict[str, Any]
) -> None:
    """The server read such a body as `tuple(None)` or `body["namespace_prefix"]`: a 500 with no reason."""
    response = await request(tenants, "bob", "POST", "/store/items/search", json=body)
    assert response.status_code == 422, response.text
    assert "namespace_prefix" in response.json()["detail"]
    anonymous = await request(tenants, None, "POST", "/store/items/search", json=body)
    assert anonymous.status_code == 401, "an anonymous caller learns nothing but that it must sign in"
    good = await request(
        tenants, "bob", "POST", "/store/items/search", json={"namespace_prefix": ["acme", "user", "bob"]}
    )
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("path", ["/threads/search", "/threads/count"])
async def test_a_thread_search_by_values_skips_threads_with_no_state_yet(tenants: Tenants, path: str) -> None:
    """The in-memory runtime compared the filter against a new thread's `None` values: a 500."""
    empty = await request(tenants, "erin", "POST", "/threads", json={})
    assert empty.status_code == 200, empty.text
    response = await request(tenants, "erin", "POST", path, json={"values": {"topic": "quokkas"}})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found == 0 if path.endswith("count") else found == [], found


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"bogus": 1}, "bogus"),
        ({"sandbox_scope": "galaxy"}, "sandbox_scope"),
        ({"mounts": ["memories", "secrets"]}, "mounts"),
        ({"guardrails": {"model_call_run_limit": -1}}, "model_call_run_limit"),
        ({"model": "nonsense"}, "model"),
        ("not an object", "assistant_settings"),
    ],
)
async def test_bad_assistant_settings_are_refused_when_written(tenants: Tenants, settings: Any, named: str) -> None:
    config = {"configurable": {"assistant_settings": settings}}
    created = await request(tenants, "alice", "POST", "/assistants", json={"graph_id": "agent", "config": config})
    assert created.status_code == 422, created.text
    assert named in created.json()["detail"]
    via_context = await request(
        tenants, "alice", "POST", "/assistants", json={"graph_id": "agent", "context": {"assistant_settings": settings}}
    )
    assert via_context.status_code == 422 and named in via_context.json()["detail"]
    good = await request(tenants, "alice", "POST", "/assistants", json={"graph_id": "agent", "name": "good"})
    assistant_id = good.json()["assistant_id"]
    updated = await request(tenants, "alice", "PATCH", f"/assistants/{assistant_id}", json={"config": config})
    assert updated.status_code == 422 and named in updated.json()["detail"]
    assert (await request(tenants, "alice", "GET", f"/assistants/{assistant_id}")).json()["version"] == 1


async def test_good_assistant_settings_are_kept(tenants: Tenants) -> None:
    settings = {"instructions": "be brief", "sandbox_scope": "none", "interrupt_on": ["execute"]}
    body = {"graph_id": "agent", "config": {"configurable": {"assistant_settings": settings}}}
    created = await request(tenants, "alice", "POST", "/assistants", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["config"]["configurable"]["assistant_settings"] == settings


async def test_a_bad_per_run_override_by_an_admin_is_refused(tenants: Tenants) -> None:
    thread = (await request(tenants, "alice", "POST", "/threads", json={})).json()
    run = {
        "assistant_id": "agent",
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "config": {"configurable": {"assistant_settings": {"sandbox_scope": "galaxy"}}},
    }
    response = await request(tenants, "alice", "POST", f"/threads/{thread['thread_id']}/runs/wait", json=run)
    assert response.status_code == 422 and "sandbox_scope" in response.json()["detail"]


async def test_liveness_and_readiness_answer_everyone_but_name_nothing(tenants: Tenants) -> None:
    assert (await request(tenants, None, "GET", "/ok")).status_code == 200
    anonymous = await request(tenants, None, "GET", "/healthz")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    member = await request(tenants, "bob", "GET", "/healthz")
    assert member.json() == {"status": "ok"}
    admin = (await request(tenants, "alice", "GET", "/healthz")).json()
    assert admin["model"] == "offline" and admin["auth_mode"] == "api_keys" and admin["store"]["status"] == "ok"


@pytest.mark.parametrize("query", ["", "?format=json"])
async def test_metrics_are_for_admins_only(tenants: Tenants, query: str) -> None:
    assert (await request(tenants, None, "GET", f"/metrics{query}")).status_code == 401
    assert (await request(tenants, "bob", "GET", f"/metrics{query}")).status_code == 403
    admin = await request(tenants, "alice", "GET", f"/metrics{query}")
    assert admin.status_code == 200 and admin.text
