"""Aegra (two instances) on a PostgreSQL and a Redis of the test's own, restarted under it (a
client streaming a run across the Redis restart included); then an instance is drained by SIGTERM
with a run in flight, once with a run that ends within the drain and once with one that outlasts it
(requeued to the other instance).

The machine's shared servers are never touched: `tests/support/own_services.py` starts these.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from langgraph_sdk.schema import StreamPart

from deep_agent_service.client import connect
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.durability import call_lines, start_aegra_instance, wait_for_line, wait_for_run
from tests.support.fault_table import FaultCase, record
from tests.support.own_services import OwnPostgres, OwnRedis, own_postgres, own_redis
from tests.support.services import require_aegra_venv

RECOVERY_LIMIT_SECONDS = 60
# Aegra's WORKER_DRAIN_TIMEOUT for the cluster (default 30 s): short, so a run can outlast it in a test
DRAIN = {"WORKER_DRAIN_TIMEOUT": "10"}
# what selfhost gives a SIGTERMed instance: open HTTP requests, then running jobs
DRAIN_GRACE_SECONDS = selfhost.drain_grace_seconds(DRAIN)


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
            env=DRAIN,
        )
        self.servers.append(server)
        return server

    def running(self) -> list[DevServer]:
        return [server for server in self.servers if server.process.poll() is None]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_aegra_venv()
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
    client = connect(url=(via or cluster.servers[0]).url)
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        thread_id, "slow", input={"messages": [{"role": "user", "content": f"sleep {seconds}"}]}
    )
    return thread_id, run["run_id"]


async def test_a_postgres_restart_mid_run(cluster: Cluster) -> None:
    a = connect(url=cluster.servers[0].url)
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
    assert "the aegra fact" in await ask(connect(url=cluster.servers[1].url), "what do you remember")
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

    a = connect(url=cluster.servers[0].url)
    statuses = [
        (await wait_for_run(a, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS))["status"]
        for thread_id, run_id in running + queued
    ]
    recovered = time.monotonic() - restarted_at
    fresh = await ask(connect(url=cluster.servers[1].url), "plan: after the redis restart")
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


async def _collect(parts: AsyncIterator[StreamPart], into: list[StreamPart]) -> str:
    """Read a stream to its end into `into`; how it ended: `end`, or the exception's name."""
    try:
        async for part in parts:
            into.append(part)
    except Exception as error:  # what a client sees when the stream breaks
        return type(error).__name__
    return "end"


@dataclass
class StreamAcrossRestart:
    events: list[StreamPart]
    ended: str  # how the joined stream ended: `end` (closed normally), an exception's name, or still open
    closed_after: float  # Redis back -> the stream closed
    answer_streamed: bool  # the run's answer (made after the restart) came through the stream
    rejoined: list[StreamPart]  # a join_stream with the last event id seen, after the run ended
    rejoin_ended: str
    status: str
    answer_in_state: bool  # what a client that reads the thread after the stream gets
    seconds: float  # Redis back -> run finished


async def _stream_across_a_redis_restart(cluster: Cluster) -> StreamAcrossRestart:
    a = connect(url=cluster.servers[0].url)
    thread_id, run_id = await _sleep_run(cluster, 6)
    events: list[StreamPart] = []
    joined = asyncio.create_task(_collect(a.runs.join_stream(thread_id, run_id), events))
    await wait_for_line(cluster.call_log, thread_id, "tool-start")
    await asyncio.sleep(0.5)  # the stream is attached (it has been for the whole tool start)

    await asyncio.to_thread(cluster.redis.stop)
    await asyncio.sleep(1)
    await asyncio.to_thread(cluster.redis.start)
    restarted_at = time.monotonic()

    done, _ = await asyncio.wait({joined}, timeout=RECOVERY_LIMIT_SECONDS)
    closed_after = time.monotonic() - restarted_at
    if not done:
        joined.cancel()
    finished = await wait_for_run(a, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
    seconds = time.monotonic() - restarted_at
    # a reconnecting client: join again from the last event it saw
    last_id = next((part.id for part in reversed(events) if part.id), None)
    rejoined: list[StreamPart] = []
    rejoin = _collect(a.runs.join_stream(thread_id, run_id, last_event_id=last_id), rejoined)
    rejoin_ended = await asyncio.wait_for(rejoin, RECOVERY_LIMIT_SECONDS)
    state = await a.threads.get_state(thread_id)
    print(f"stream: {[(p.event, p.id) for p in events]}; rejoined: {[(p.event, p.id) for p in rejoined]}")
    return StreamAcrossRestart(
        events=events,
        ended=joined.result() if done else "still open",
        closed_after=closed_after,
        answer_streamed=any("Done sleeping" in str(part.data) for part in events),
        rejoined=rejoined,
        rejoin_ended=rejoin_ended,
        status=finished["status"],
        answer_in_state="Done sleeping" in str(state["values"]["messages"][-1]["content"]),
        seconds=seconds,
    )


def _stream_case(fault: str, seen: StreamAcrossRestart) -> FaultCase:
    return FaultCase(
        fault=fault,
        server="Aegra x2",
        in_flight=1,
        client_saw=(
            f"the joined stream: {len(seen.events)} events, the run's answer "
            f"{'included' if seen.answer_streamed else 'MISSING'}, then {seen.ended!r} "
            f"{seen.closed_after:.1f}s after Redis was back; a rejoin from the last "
            f"event id: {len(seen.rejoined)} events, then {seen.rejoin_ended!r}; the run {seen.status!r}, its answer "
            f"{'in' if seen.answer_in_state else 'NOT in'} the thread state"
        ),
        lost="nothing" if seen.answer_streamed else "the stream's events after the restart (the run is intact)",
        recovery_seconds=seen.seconds,
    )


async def test_a_stream_across_a_redis_restart(cluster: Cluster) -> None:
    """A client joined to a running run's stream while Redis (broker, event buffer, event-id counters)
    restarts: first an empty Redis (no persistence), then one with an append-only file."""
    empty = await _stream_across_a_redis_restart(cluster)
    record(_stream_case("Redis restart (empty) with a client streaming", empty))

    await asyncio.to_thread(cluster.redis.stop)  # nothing running: this restart only switches persistence on
    cluster.redis.persistent = True
    await asyncio.to_thread(cluster.redis.start)
    kept = await _stream_across_a_redis_restart(cluster)
    record(_stream_case("Redis restart (appendonly) with a client streaming", kept))

    # An empty Redis restarts Aegra's per-run event counter: the events after it get ids the stream has
    # already passed and are dropped as repeats, and the stream ends without them, as if complete.
    assert empty.status == "success" and empty.ended == "end", "the run completed and the stream closed"
    assert empty.answer_in_state, "a client that reads the thread after the stream ends gets the answer"
    assert empty.rejoin_ended == "end", "a rejoin after the run ended gets the end of the stream"
    # With persistence the counters survive: the stream goes on to the run's end.
    assert kept.status == "success" and kept.ended == "end" and kept.answer_streamed, [p.event for p in kept.events]


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
    later = await wait_for_run(connect(url=survivor.url), later_thread, later_run, within=RECOVERY_LIMIT_SECONDS)

    code = await asyncio.to_thread(draining.process.wait, DRAIN_GRACE_SECONDS + 10)
    exited_after = time.monotonic() - signalled_at
    finished = await wait_for_run(connect(url=survivor.url), thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
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


async def test_sigterm_requeues_a_run_that_outlasts_the_drain(cluster: Cluster) -> None:
    """After the drain test (one instance left): a fresh instance joins, then the one running a tool call
    longer than the whole grace period is SIGTERMed. Aegra cancels the run at WORKER_DRAIN_TIMEOUT, puts it
    back on the queue and exits; the other instance runs it again from its last checkpoint."""
    while len(cluster.running()) < 2:
        cluster.start(f"replacement-{len(cluster.servers)}")
    sleep_seconds = int(DRAIN_GRACE_SECONDS) + 2  # outlasts the drain whatever the HTTP phase took
    thread_id, run_id = await _sleep_run(cluster, sleep_seconds, via=cluster.running()[0])
    await wait_for_line(cluster.call_log, thread_id, "tool-start")
    [draining] = _ran_on(cluster, thread_id)
    survivor = next(s for s in cluster.running() if s is not draining)
    watcher = connect(url=survivor.url)

    signalled_at = time.monotonic()
    os.kill(draining.process.pid, signal.SIGTERM)
    seen: list[str] = []  # the run's statuses as a client polling it sees them, in order
    while (code := draining.process.poll()) is None:
        status = (await watcher.runs.get(thread_id, run_id))["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        assert time.monotonic() - signalled_at < DRAIN_GRACE_SECONDS + 10, "the drain did not end"
        await asyncio.sleep(0.2)
    exited_after = time.monotonic() - signalled_at
    finished = await wait_for_run(watcher, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
    completed_after = time.monotonic() - signalled_at
    if seen[-1] != finished["status"]:
        seen.append(finished["status"])
    ran_on = _ran_on(cluster, thread_id)
    state = await watcher.threads.get_state(thread_id)
    replies = [m for m in state["values"]["messages"] if m["type"] == "ai" and "Done sleeping" in str(m["content"])]
    record(
        FaultCase(
            fault="SIGTERM, run outlasts the drain (requeue)",
            server="Aegra x2",
            in_flight=1,
            client_saw=(
                f"statuses {' -> '.join(seen)}; exit code {code} after {exited_after:.1f}s "
                f"(WORKER_DRAIN_TIMEOUT {DRAIN['WORKER_DRAIN_TIMEOUT']}s); the tool call ran {len(ran_on)}x "
                f"({'draining, then the other instance' if ran_on == [draining, survivor] else ran_on})"
            ),
            lost="nothing" if finished["status"] == "success" else f"the run ({finished['status']})",
            recovery_seconds=completed_after,
        )
    )
    assert code == 0, f"a drained Aegra exited {code}, not 0"
    assert finished["status"] == "success", f"the requeued run ended {finished['status']!r}"
    assert ran_on == [draining, survivor], "cancelled on the draining instance, run again on the other one"
    assert len(replies) == 1, "one answer on the thread: the cancelled attempt left no half-finished turn"


pytestmark = pytest.mark.integration
