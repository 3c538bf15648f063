"""The same project on Aegra: two instances on one PostgreSQL + Redis, and a `kill -9` mid-run.

Each test module run creates a database of its own and drops it afterwards. The Aegra venv
(Python >= 3.12) is created once by `deploy/aegra/install.sh` (the `make aegra-venv` target).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer
from deep_agent_service.tenancy.identity import canonical_assistant_id
from tests.support.chat import ask, last_ai_text
from tests.support.durability import (
    call_lines,
    repeated,
    start_aegra_instance,
    unique_database,
    wait_for_line,
    wait_for_run,
)
from tests.support.services import require, require_aegra_venv, tcp_reachable


@dataclass
class Cluster:
    database: str
    database_url: str
    workdir: Path
    call_log: Path
    servers: list[DevServer]

    def client(self, index: int) -> LangGraphClient:
        return connect(url=self.servers[index].url)

    def start(self, name: str) -> DevServer:
        server = start_aegra_instance(
            name, workdir=self.workdir, database_url=self.database_url, call_log=self.call_log
        )
        self.servers.append(server)
        return server


@pytest.fixture(scope="module")
def aegra_python() -> Path:
    require(tcp_reachable("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432 is needed for the Aegra tests")
    require(tcp_reachable("127.0.0.1", 6379), "Redis on 127.0.0.1:6379 is needed for the Aegra tests")
    return require_aegra_venv()


@pytest.fixture(scope="module")
def cluster(aegra_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two Aegra instances (A, B) on one fresh database and the machine's Redis."""
    database = unique_database("dur_aegra")
    workdir = Path(tmp_path_factory.mktemp("aegra"))
    running = Cluster(database, selfhost.create_database(database), workdir, workdir / "calls.log", [])
    try:
        running.start("a")
        running.start("b")
        yield running
    finally:
        for server in running.servers:
            server.stop()
        selfhost.drop_database(database)


@pytest.fixture
async def clients(cluster: Cluster) -> AsyncIterator[tuple[LangGraphClient, LangGraphClient]]:
    yield cluster.client(0), cluster.client(1)


async def test_a_thread_started_on_one_instance_continues_on_the_other(
    clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    a, b = clients
    thread_id = (await a.threads.create())["thread_id"]
    await ask(a, "plan: pack; travel", thread_id=thread_id)
    reply = await ask(b, "plan: unpack", thread_id=thread_id)
    assert "unpack" in reply
    state = await a.threads.get_state(thread_id)
    humans = [m["content"] for m in state["values"]["messages"] if m["type"] == "human"]
    assert humans == ["plan: pack; travel", "plan: unpack"], "B continued A's thread, and A sees B's turn"


async def test_memory_written_through_one_instance_is_read_through_the_other(
    clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    a, b = clients
    assert "I will remember" in await ask(a, "remember my locker is 42")
    assert "my locker is 42" in await ask(b, "what do you remember")


async def test_default_assistant_has_the_same_id_as_on_langgraph_dev(
    clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    default = await clients[0].assistants.get(canonical_assistant_id("agent"))  # the server's own, by graph id
    assert default["graph_id"] == "agent"


async def test_healthz_checks_the_store_on_aegra(cluster: Cluster) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        health = (await http.get(f"{cluster.servers[0].url}/healthz")).json()
    assert health["store"]["status"] == "ok"
    assert health["sandbox_provider"] == {"status": "ok", "provider": "local"}


def test_an_idle_connection_outlives_the_clients_pool_expiry(cluster: Cluster) -> None:
    """Aegra keeps an idle keep-alive connection open past uvicorn's default 5 s, so a client that
    returns one to its pool late (a lagging event loop, a load balancer's 60 s) does not send on a
    connection the server is closing."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(cluster.servers[0].url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
    try:
        connection.request("GET", "/ready")
        first = connection.getresponse()
        assert first.status == 200
        first.read()  # the whole response, however it was split into segments
        socket_used = connection.sock
        time.sleep(selfhost.HTTP_KEEP_ALIVE_SECONDS / 10 + 1)  # past uvicorn's 5 s default
        try:
            connection.request("GET", "/ready")
            again = connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            again = None
        assert again is not None and again.status == 200, "the server closed the idle connection"
        assert connection.sock is socket_used, "the second request went over the same connection"
    finally:
        connection.close()


async def test_time_travel_on_aegra(clients: tuple[LangGraphClient, LangGraphClient]) -> None:
    from tests.integration.test_time_travel import fork_changes_the_outcome_and_keeps_the_original

    await fork_changes_the_outcome_and_keeps_the_original(clients[0])


def _claimed_by(database_url: str, run_id: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT claimed_by FROM runs WHERE run_id = %s", (run_id,)).fetchone()
    return str(row[0]) if row and row[0] else ""


async def test_kill_9_of_the_instance_running_a_run_is_recovered_by_the_other(cluster: Cluster) -> None:
    a = cluster.client(0)
    thread_id = (await a.threads.create())["thread_id"]
    run = await a.runs.create(thread_id, "slow", input={"messages": [{"role": "user", "content": "sleep 4"}]})
    await wait_for_line(cluster.call_log, thread_id, "tool-start")

    claimed = await asyncio.to_thread(_claimed_by, cluster.database_url, run["run_id"])
    victim = next((s for s in cluster.servers if f"-{s.process.pid}-worker-" in claimed), None)
    assert victim is not None, f"no live instance holds run {run['run_id']} (claimed_by={claimed!r})"
    survivor = next(s for s in cluster.servers if s is not victim and s.process.poll() is None)
    killed_at = time.monotonic()
    victim.kill()

    survivor_client = connect(url=survivor.url)
    while len(call_lines(cluster.call_log, thread_id, "tool-start")) < 2:
        assert time.monotonic() - killed_at < 120, "the run was not picked up again within 120 s"
        await asyncio.sleep(0.1)
    resumed_after = time.monotonic() - killed_at
    finished = await wait_for_run(survivor_client, thread_id, run["run_id"], within=120)
    completed_after = time.monotonic() - killed_at
    print(f"\n[aegra kill -9] run resumed {resumed_after:.1f}s and completed {completed_after:.1f}s after the kill")

    model_calls = call_lines(cluster.call_log, thread_id, "model")
    assert finished["status"] == "success", "the run survived the crash and completed"
    assert repeated(model_calls) == 0 and len(model_calls) == 2, f"model calls: {model_calls}"
    state = await survivor_client.threads.get_state(thread_id)
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai", "tool", "ai"]
    assert last_ai_text(state) == "Done sleeping: slept 4s"
