"""Aegra (two instances) on a PostgreSQL and a Redis of the test's own, restarted under it; then
one instance is drained by SIGTERM with a run in flight.

The machine's shared servers are never touched: `tests/support/own_services.py` starts these.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.durability import call_lines, start_aegra_instance, wait_for_line, wait_for_run
from tests.support.fault_table import FaultCase, record
from tests.support.own_services import OwnPostgres, OwnRedis, own_postgres, own_redis

RECOVERY_LIMIT_SECONDS = 60
# what selfhost gives a SIGTERMed instance: open HTTP requests, then running jobs (Aegra's default drain)
DRAIN_GRACE_SECONDS = selfhost.drain_grace_seconds(os.environ)


class Cluster:
    def __init__(self, postgres: OwnPostgres, redis: OwnRedis, workdir: Path) -> None:
        self.postgres, self.redis, self.workdir = postgres, redis, workdir
        self.call_log = workdir / "calls.log"
        self.database_url = selfhost.create_database("faults", postgres.server_url)
        self.servers: list[DevServer] = []

    def start(self, name: str) -> DevServer:
        server = start_aegra_instance(
            name,
            workdir=self.workdir,
            database_url=self.database_url,
            call_log=self.call_log,
            redis_url=self.redis.url,
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


async def _sleep_run(cluster: Cluster, seconds: int, via: DevServer | None = None) -> tuple[str, str]:
    client = get_client(url=(via or cluster.servers[0]).url)
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


def _ran_on(cluster: Cluster, thread_id: str) -> list[DevServer]:
    """The instances whose process ran the thread's tool calls, in order (the `pid` of each call log line)."""
    pids = [int(line.rsplit(" pid ", 1)[1]) for line in call_lines(cluster.call_log, thread_id, "tool-start")]
    return [next(s for s in cluster.servers if s.process.pid == pid) for pid in pids]


async def test_sigterm_drains_an_instance_with_a_run_in_flight(cluster: Cluster) -> None:
    """Last in the module: it leaves one instance stopped. SIGTERM goes to the server process only, as
    `docker stop` and Kubernetes send it."""
    thread_id, run_id = await _sleep_run(cluster, 6)
    await wait_for_line(cluster.call_log, thread_id, "tool-start")
    [draining] = _ran_on(cluster, thread_id)
    survivor = next(s for s in cluster.servers if s is not draining)

    signalled_at = time.monotonic()
    os.kill(draining.process.pid, signal.SIGTERM)
    await asyncio.sleep(0.5)
    with pytest.raises(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2) as http:
            await http.post(f"{draining.url}/threads", json={})  # the listening socket is closed at once
    # a run queued during the drain: the shared queue must hand it to the survivor, not the draining instance
    later_thread, later_run = await _sleep_run(cluster, 1, via=survivor)
    later = await wait_for_run(get_client(url=survivor.url), later_thread, later_run, within=RECOVERY_LIMIT_SECONDS)

    code = await asyncio.to_thread(draining.process.wait, DRAIN_GRACE_SECONDS + 10)
    exited_after = time.monotonic() - signalled_at
    finished = await wait_for_run(get_client(url=survivor.url), thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
    completed_after = time.monotonic() - signalled_at
    ran_on = _ran_on(cluster, thread_id)
    record(
        FaultCase(
            fault="SIGTERM with a run in flight (drain)",
            server="Aegra x2",
            in_flight=1,
            client_saw=(
                f"new requests refused; the in-flight run {finished['status']!r} (tool ran {len(ran_on)}x), "
                f"a run queued meanwhile {later['status']!r} on the other instance; exit code {code} "
                f"after {exited_after:.1f}s"
            ),
            lost="nothing" if finished["status"] == "success" else f"the run ({finished['status']})",
            recovery_seconds=completed_after,
        )
    )
    assert later["status"] == "success" and _ran_on(cluster, later_thread) == [survivor], "no new runs while draining"
    assert finished["status"] == "success", "the in-flight run finished within the grace period"
    assert ran_on == [draining], "the draining instance finished the tool call itself, once"
    assert code == 0, f"a drained Aegra exited {code}, not 0"


pytestmark = pytest.mark.integration
