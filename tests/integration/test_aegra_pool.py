"""Aegra with a metadata pool of one connection: every request still completes.

Aegra holds a connection of its SQLAlchemy pool while it authorizes a run, and our
`threads.create_run` handler reads the assistant's stored settings then; a state read builds the
graph, which reads the thread's assistant. Reading those through the same pool is a second checkout
under the first: at 500 concurrent runs every connection was held by a request waiting for another,
and runs failed with "QueuePool limit ... timed out" after 30 s. With one connection the first
request already waits on itself, so a pool of one is the smallest version of that load.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chat import last_ai_text
from tests.support.own_services import own_postgres, own_redis
from tests.support.services import require_aegra_venv
from tests.support.tenants import Tenants, aegra_tenant_server

ONE_CONNECTION = {"SQLALCHEMY_POOL_SIZE": "1", "SQLALCHEMY_MAX_OVERFLOW": "0"}
WITHIN_SECONDS = 25  # under SQLAlchemy's 30 s pool timeout, which a self-deadlock always reaches


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    require_aegra_venv()
    workdir = Path(tmp_path_factory.mktemp("aegra-pool"))
    with (
        own_postgres() as postgres,
        own_redis() as redis,
        aegra_tenant_server(workdir, postgres.server_url, redis.url, extra_env=ONE_CONNECTION) as running,
    ):
        yield running


async def test_a_run_of_an_assistant_with_settings_completes(tenants: Tenants) -> None:
    admin = tenants.client("alice")
    settings = {"instructions": f"assistant {uuid.uuid4()}"}
    config = {"configurable": {"assistant_settings": settings}}
    assistant = await admin.assistants.create(graph_id="agent", config=config)
    thread = (await admin.threads.create())["thread_id"]
    result = await asyncio.wait_for(
        admin.runs.wait(thread, assistant["assistant_id"], input={"messages": [{"role": "user", "content": "hi"}]}),
        WITHIN_SECONDS,
    )
    assert last_ai_text(result)


async def test_a_paused_runs_state_shows_its_approval(tenants: Tenants) -> None:
    admin = tenants.client("alice")
    settings = {"interrupt_on": ["write_file"], "instructions": f"assistant {uuid.uuid4()}"}
    config = {"configurable": {"assistant_settings": settings}}
    assistant = await admin.assistants.create(graph_id="agent", config=config)
    thread = (await admin.threads.create())["thread_id"]
    write = {"messages": [{"role": "user", "content": "write /memories/pool.md\none connection"}]}
    await asyncio.wait_for(admin.runs.wait(thread, assistant["assistant_id"], input=write), WITHIN_SECONDS)
    state = await asyncio.wait_for(admin.threads.get_state(thread), WITHIN_SECONDS)
    assert [interrupt["value"]["action_requests"][0]["name"] for interrupt in state["interrupts"]] == ["write_file"]


async def test_concurrent_member_runs_complete(tenants: Tenants) -> None:
    member = tenants.client("bob")

    async def one(index: int) -> str:
        thread = (await member.threads.create())["thread_id"]
        hello = {"messages": [{"role": "user", "content": f"hi {index}"}]}
        result = await member.runs.wait(thread, "agent", input=hello)
        return last_ai_text(result)

    replies = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(8))), WITHIN_SECONDS * 2)
    assert all(replies)
