"""Aegra (two instances) on a PostgreSQL and a Redis of the test's own, restarted under it.

The machine's shared servers are never touched: `tests/support/own_services.py` starts these.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port
from tests.support.chat import ask
from tests.support.durability import config_with_slow_graph, wait_for_line, wait_for_run
from tests.support.fault_table import FaultCase, record
from tests.support.own_services import OwnPostgres, OwnRedis, own_postgres, own_redis
from tests.support.server import BASE_ENV

FAST_RECOVERY = {"LEASE_DURATION_SECONDS": "5", "HEARTBEAT_INTERVAL_SECONDS": "2", "REAPER_INTERVAL_SECONDS": "1"}
RECOVERY_LIMIT_SECONDS = 60


class Cluster:
    def __init__(self, postgres: OwnPostgres, redis: OwnRedis, workdir: Path) -> None:
        self.postgres, self.redis, self.workdir = postgres, redis, workdir
        self.call_log = workdir / "calls.log"
        self.database_url = selfhost.create_database("faults", postgres.server_url)
        self.servers: list[DevServer] = []

    def start(self, name: str) -> DevServer:
        config = config_with_slow_graph(self.workdir, BASE_ENV)
        env = {
            **BASE_ENV,
            **FAST_RECOVERY,
            **selfhost.aegra_env(self.database_url, redis_url=self.redis.url, config=config),
            "CALL_LOG": str(self.call_log),
        }
        server = selfhost.start_aegra(
            port=free_port(), env=env, log_path=self.workdir / f"{name}.log", cwd=self.workdir, timeout=180
        )
        self.servers.append(server)
        return server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        selfhost.ensure_aegra_venv()
    except selfhost.SelfHostError as error:
        pytest.skip(f"the Aegra venv could not be created: {error}")
    with own_postgres() as postgres, own_redis() as redis:
        running = Cluster(postgres, redis, Path(tmp_path_factory.mktemp("aegra-faults")))
        try:
            running.start("a")
            running.start("b")
            yield running
        finally:
            for server in running.servers:
                server.stop()


async def _healthy(url: str) -> bool:
    async with httpx.AsyncClient(timeout=10) as http:
        with_store = (await http.get(f"{url}/healthz")).status_code == 200
    return with_store


async def _sleep_run(cluster: Cluster, seconds: int) -> tuple[str, str]:
    client = get_client(url=cluster.servers[0].url)
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        thread_id, "slow", input={"messages": [{"role": "user", "content": f"sleep {seconds}"}]}
    )
    return thread_id, run["run_id"]


async def test_a_postgres_restart_mid_run(cluster: Cluster) -> None:
    a = get_client(url=cluster.servers[0].url)
    assert "I will remember" in await ask(a, "remember the aegra fact")
    thread_id, run_id = await _sleep_run(cluster, 6)
    await wait_for_line(cluster.call_log, thread_id, "tool-start")

    await asyncio.to_thread(cluster.postgres.stop, "fast")
    try:
        outage_reported = not await _healthy(cluster.servers[0].url)
    finally:
        await asyncio.to_thread(cluster.postgres.start)
    restarted_at = time.monotonic()
    assert outage_reported, "/healthz answered 200 while the database was down"

    while not all([await _healthy(s.url) for s in cluster.servers]):
        assert time.monotonic() - restarted_at < RECOVERY_LIMIT_SECONDS, "Aegra did not recover"
        await asyncio.sleep(0.2)
    recovered = time.monotonic() - restarted_at

    finished = await wait_for_run(a, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
    retried = finished["status"]
    if finished["status"] != "success":  # failed clearly: a retry on the same thread must work
        again = await a.runs.create(thread_id, "slow", input={"messages": [{"role": "user", "content": "sleep 1"}]})
        retried = (await wait_for_run(a, thread_id, again["run_id"], within=RECOVERY_LIMIT_SECONDS))["status"]
    assert retried == "success"
    assert "the aegra fact" in await ask(get_client(url=cluster.servers[1].url), "what do you remember")
    record(
        FaultCase(
            fault="PostgreSQL restart mid-run",
            server="Aegra x2",
            in_flight=1,
            client_saw=f"/healthz 503 during the outage; the run ended {finished['status']!r}, retry {retried!r}",
            lost="nothing" if finished["status"] == "success" else "the run (failed, retried)",
            recovery_seconds=recovered,
        )
    )


async def test_a_redis_restart_with_runs_running_and_queued(cluster: Cluster) -> None:
    running = [await _sleep_run(cluster, 4) for _ in range(2)]
    for thread_id, _ in running:
        await wait_for_line(cluster.call_log, thread_id, "tool-start")
    queued = [await _sleep_run(cluster, 1) for _ in range(2)]

    await asyncio.to_thread(cluster.redis.stop)
    await asyncio.sleep(1)
    await asyncio.to_thread(cluster.redis.start)
    restarted_at = time.monotonic()

    a = get_client(url=cluster.servers[0].url)
    statuses = [
        (await wait_for_run(a, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS))["status"]
        for thread_id, run_id in running + queued
    ]
    recovered = time.monotonic() - restarted_at
    fresh = await ask(get_client(url=cluster.servers[1].url), "plan: after the redis restart")
    lost = sum(status != "success" for status in statuses)
    record(
        FaultCase(
            fault="Redis restart (empty)",
            server="Aegra x2",
            in_flight=len(statuses),
            client_saw=f"run statuses {statuses}; new runs work",
            lost=f"{lost} of {len(statuses)} runs",
            recovery_seconds=recovered,
        )
    )
    assert "after the redis restart" in fresh
    assert lost == 0, f"runs lost to a Redis restart: {statuses}"


pytestmark = pytest.mark.integration
