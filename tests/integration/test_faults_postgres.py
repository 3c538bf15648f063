"""PostgreSQL restarts under `langgraph dev` with the PostgreSQL store (a database of the test's own).

While the database is down, `/healthz` answers 503 and names the store error; a run that needs
memory completes with a tool error or fails clearly, and nothing half-written stays; once the
database is back the same server (no restart of its own) serves memory again and the retry works.

A run in flight ACROSS the outage: it started (and read memory) while the database was up, and its
sandbox command changes `/memories/notes.md`, which the sandbox sync writes back through the store
after the command, once while the database is down and once after it is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.durability import wait_for_run
from tests.support.fault_table import FaultCase, record
from tests.support.own_services import OwnPostgres, own_postgres
from tests.support.sandbox_dirs import sandbox_root
from tests.support.server import POSTGRES_STORE, launch

RECOVERY_LIMIT_SECONDS = 60


@pytest.fixture(scope="module")
def database() -> Iterator[OwnPostgres]:
    with own_postgres() as server:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE store")
        yield server


@pytest.fixture(scope="module")
def dev_server(database: OwnPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    workdir = Path(tmp_path_factory.mktemp("pg-restart"))
    env = {"POSTGRES_URI": database.url("store"), "SANDBOX_ROOT": str(sandbox_root())}
    server = launch(workdir, env=env, overrides=POSTGRES_STORE)
    try:
        yield server
    finally:
        server.stop()


async def _health(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{url}/healthz")


def _notes(database: OwnPostgres) -> list[str]:
    with psycopg.connect(database.url("store")) as conn:
        rows = conn.execute("SELECT value FROM store WHERE key = '/notes.md'").fetchall()
    return [str(row[0]["content"]) for row in rows]


async def test_a_postgres_restart_is_reported_survived_and_loses_no_memory(
    database: OwnPostgres, dev_server: DevServer
) -> None:
    client = connect(url=dev_server.url)
    assert "I will remember" in await ask(client, "remember the first fact")
    assert (await _health(dev_server.url)).status_code == 200

    await asyncio.to_thread(database.stop, "fast")
    stopped_at = time.monotonic()
    try:
        outage = await _health(dev_server.url)
        assert outage.status_code == 503, outage.text
        assert outage.json()["store"]["status"] == "error" and outage.json()["status"] == "degraded"

        # A run while the database is down: it ends (success with a tool error, or error), never hangs.
        thread = await client.threads.create()
        run = await client.runs.wait(
            thread["thread_id"],
            "agent",
            input={"messages": [{"role": "user", "content": "remember the second fact"}]},
            raise_error=False,
        )
        messages = run.get("messages") if isinstance(run, dict) else None
        saw = str(messages[-1]["content"]) if messages else str(run)
        # Completed, and the model was told (a tool error it can act on); or failed with a named error.
        assert "memory store is unavailable" in saw or "__error__" in run, saw
    finally:
        await asyncio.to_thread(database.start)
    restarted_at = time.monotonic()

    while (await _health(dev_server.url)).status_code != 200:
        assert time.monotonic() - restarted_at < RECOVERY_LIMIT_SECONDS, "the store did not recover"
        await asyncio.sleep(0.2)
    recovered = time.monotonic() - restarted_at

    notes = await asyncio.to_thread(_notes, database)
    assert len(notes) == 1 and "the first fact" in notes[0] and "the second fact" not in notes[0], notes
    assert "I will remember" in await ask(client, "remember the second fact"), "the retry works, no server restart"
    notes = await asyncio.to_thread(_notes, database)
    assert "the first fact" in notes[0] and notes[0].count("the second fact") == 1
    record(
        FaultCase(
            fault="PostgreSQL restart (store)",
            server="langgraph dev + PostgreSQL store",
            in_flight=1,
            client_saw="/healthz 503 during the outage; the run's memory call failed clearly; retry succeeded",
            lost="nothing (the failed write left the earlier version)",
            recovery_seconds=recovered,
        )
    )
    print(f"outage lasted {restarted_at - stopped_at:.1f}s; the run during it returned: {saw}")


async def _until_healthy(url: str, since: float) -> float:
    while (await _health(url)).status_code != 200:
        assert time.monotonic() - since < RECOVERY_LIMIT_SECONDS, "the store did not recover"
        await asyncio.sleep(0.2)
    return time.monotonic() - since


async def _start_sandbox_write(dev_server: DevServer, fact: str) -> tuple[str, str, Path]:
    """A run whose sandbox command appends `fact` to the notes once the test releases it; returns once
    the command waits, with the host path that releases it (touch it): the fault happens before or
    after the write-back by the test's choice, never by a race with a sleep."""
    client = connect(url=dev_server.url)
    thread_id = (await client.threads.create())["thread_id"]
    marker = f"started-{uuid.uuid4().hex[:8]}"
    command = (
        f"touch /{marker} && while [ ! -e /{marker}.go ]; do sleep 0.05; done && "
        f"echo '{fact}' >> /memories/notes.md && echo appended"
    )
    run = await client.runs.create(
        thread_id, "agent", input={"messages": [{"role": "user", "content": f"run {command}"}]}
    )
    root = Path(dev_server.env["SANDBOX_ROOT"])
    deadline = time.monotonic() + RECOVERY_LIMIT_SECONDS
    while not (started := await asyncio.to_thread(lambda: list(root.glob(f"*/root/{marker}")))):  # the box's `/`
        status = (await client.runs.get(thread_id, run["run_id"]))["status"]
        assert status in {"pending", "running"} and time.monotonic() < deadline, f"the command never started: {status}"
        await asyncio.sleep(0.1)
    return thread_id, run["run_id"], started[0].with_name(f"{marker}.go")


async def _reply(dev_server: DevServer, thread_id: str) -> str:
    state = await connect(url=dev_server.url).threads.get_state(thread_id)
    return str(state["values"]["messages"][-1]["content"])


async def test_a_run_in_flight_writes_memory_while_the_database_is_down(
    database: OwnPostgres, dev_server: DevServer
) -> None:
    client = connect(url=dev_server.url)
    fact = f"the outage fact {uuid.uuid4().hex[:6]}"
    before = await asyncio.to_thread(_notes, database)
    thread_id, run_id, release = await _start_sandbox_write(dev_server, fact)

    await asyncio.to_thread(database.stop, "fast")
    stopped_at = time.monotonic()
    try:  # the write-back happens while the database is down
        release.touch()
        finished = await wait_for_run(client, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
        saw = await _reply(dev_server, thread_id)
    finally:
        await asyncio.to_thread(database.start)
    ended_after = time.monotonic() - stopped_at
    recovered = await _until_healthy(dev_server.url, time.monotonic())

    after = await asyncio.to_thread(_notes, database)
    assert after == before, "the failed write-back left the notes as they were (all or nothing)"
    # the retry on the same thread: the box gets the store's notes again (the unsaved change is gone), then saves
    again = await ask(client, f"run echo '{fact}' >> /memories/notes.md && echo appended", thread_id=thread_id)
    [notes] = await asyncio.to_thread(_notes, database)
    record(
        FaultCase(
            fault="PostgreSQL stops under a run in flight (store)",
            server="langgraph dev + PostgreSQL store",
            in_flight=1,
            client_saw=(
                f"the run ended {finished['status']!r} after {ended_after:.1f}s of outage; its reply: "
                f"{_gist(saw)}; retry {'saved' if notes.count(fact) == 1 else 'NOT saved'}"
            ),
            lost="the run's memory change (reported; the notes kept their earlier version)",
            recovery_seconds=recovered,
        )
    )
    print(f"the run in flight replied: {saw}\nthe retry replied: {again}")
    assert finished["status"] == "success", "the run completed; the store error is in its tool result"
    assert "NOT saved to memory" in saw and "memory store is unavailable" in saw, saw
    assert "appended" in again and notes.count(fact) == 1, notes


async def test_a_run_in_flight_writes_memory_after_the_database_is_back(
    database: OwnPostgres, dev_server: DevServer
) -> None:
    client = connect(url=dev_server.url)
    fact = f"the restart fact {uuid.uuid4().hex[:6]}"
    thread_id, run_id, release = await _start_sandbox_write(dev_server, fact)

    await asyncio.to_thread(database.stop, "fast")  # every pooled connection dies
    await asyncio.to_thread(database.start)
    restarted_at = time.monotonic()
    await _until_healthy(dev_server.url, restarted_at)  # back: the write-back runs on a pool that lost every connection
    release.touch()
    finished = await wait_for_run(client, thread_id, run_id, within=RECOVERY_LIMIT_SECONDS)
    completed = time.monotonic() - restarted_at
    saw = await _reply(dev_server, thread_id)
    [notes] = await asyncio.to_thread(_notes, database)
    record(
        FaultCase(
            fault="PostgreSQL restart under a run in flight (store)",
            server="langgraph dev + PostgreSQL store",
            in_flight=1,
            client_saw=f"the run ended {finished['status']!r}; its reply: {_gist(saw)}",
            lost="nothing" if notes.count(fact) == 1 else "the run's memory change",
            recovery_seconds=completed,
        )
    )
    print(f"the run across the restart replied: {saw}")
    assert finished["status"] == "success"
    assert "appended" in saw and "NOT saved" not in saw, saw
    assert notes.count(fact) == 1, notes


def _gist(reply: str) -> str:
    if "NOT saved to memory" in reply:
        return "the command's output + 'NOT saved to memory ... memory store is unavailable'"
    return "the command's output" if "appended" in reply else reply[:120]


pytestmark = pytest.mark.integration
