"""Sandboxes through a real `langgraph dev` server: scopes, races, escapes, and the reaper."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.client import connect
from deep_agent_service.sandboxes.local import LocalProvider
from deep_agent_service.sandboxes.provider import SandboxInfo
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.sandbox_dirs import sandbox_root
from tests.support.server import launch
from tests.support.services import tcp_reachable

DEPLOYMENT = "sbtest"
FAKE_KEY = "sk-fake-key-that-must-not-leak"
SERVER_ENV = {
    "DEPLOYMENT_NAME": DEPLOYMENT,
    "OPENAI_API_KEY": FAKE_KEY,  # the server holds a provider key; commands must not see it
    "SANDBOX_TIMEOUT_SECONDS": "4",
    "SANDBOX_OUTPUT_BYTES": "65536",
    "SANDBOX_DISK_MB": "48",
    "SANDBOX_MAX_FILE_MB": "16",
    "SANDBOX_REAP_INTERVAL_SECONDS": "1",
}


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    workdir = Path(tmp_path_factory.mktemp("sandbox-server"))
    (workdir / ".env").write_text("SECRET_FROM_DOTENV=do-not-read\n")
    running = launch(workdir, {**SERVER_ENV, "SANDBOX_ROOT": str(sandbox_root())})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def sdk(sandbox_server: DevServer) -> AsyncIterator[LangGraphClient]:
    yield connect(url=sandbox_server.url)


def _workdir(server: DevServer) -> Path:
    assert server.log_path is not None
    return server.log_path.parent


async def _boxes(server: DevServer, **labels: str) -> list[SandboxInfo]:
    return await LocalProvider(Path(server.env["SANDBOX_ROOT"])).list({"deployment": DEPLOYMENT, **labels})


async def _healthy(server: DevServer) -> bool:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{server.url}/ok")).status_code == 200


async def test_a_thread_keeps_its_sandbox_and_another_thread_gets_a_fresh_one(
    sdk: LangGraphClient, sandbox_server: DevServer
) -> None:
    one = (await sdk.threads.create())["thread_id"]
    assert "hi" in await ask(sdk, "run echo hi", thread_id=one)
    await ask(sdk, "run echo x > f.txt", thread_id=one)
    assert "x\n" in await ask(sdk, "run cat f.txt", thread_id=one)
    assert len(await _boxes(sandbox_server, owner=one)) == 1

    two = (await sdk.threads.create())["thread_id"]
    assert "No such file" in await ask(sdk, "run cat f.txt", thread_id=two)
    [box_one], [box_two] = await _boxes(sandbox_server, owner=one), await _boxes(sandbox_server, owner=two)
    assert box_one.sandbox_id != box_two.sandbox_id


async def test_assistant_scope_shares_the_sandbox_between_threads_even_when_racing(
    sdk: LangGraphClient, sandbox_server: DevServer
) -> None:
    assistant = await sdk.assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": {"sandbox_scope": "assistant"}}}
    )
    aid = assistant["assistant_id"]
    # Two first runs at once on two new threads of a new assistant: both need the same new box.
    await asyncio.gather(
        ask(sdk, "run echo one >> shared.txt", assistant_id=aid),
        ask(sdk, "run echo two >> shared.txt", assistant_id=aid),
    )
    assert len(await _boxes(sandbox_server, owner=aid)) == 1
    seen = await ask(sdk, "run cat shared.txt", assistant_id=aid)
    assert "one" in seen and "two" in seen


async def test_a_read_only_conversation_creates_no_sandbox(sdk: LangGraphClient, sandbox_server: DevServer) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "hello", thread_id=thread)
    await sdk.threads.get_state(thread)
    default = (await sdk.assistants.search(graph_id="agent", limit=1))[0]
    await sdk.assistants.get_schemas(default["assistant_id"])
    assert await _boxes(sandbox_server, owner=thread) == []


async def test_escapes_through_the_server_are_contained(sdk: LangGraphClient, sandbox_server: DevServer) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    workdir = _workdir(sandbox_server)

    async def run(command: str) -> str:
        return await ask(sdk, f"run {command}", thread_id=thread)

    for path in (workdir / ".env", PROJECT_ROOT / "pyproject.toml", Path("/etc/shadow"), Path("/root")):
        assert "No such file" in await run(f"cat {path}"), path
    assert "Read-only file system" in await run("echo x > /usr/escaped")
    env = await run("env")
    assert FAKE_KEY not in env and "SECRET_FROM_DOTENV" not in env and "OPENAI" not in env
    if tcp_reachable("127.0.0.1", 5432):
        refused = await run("python3 -c \"import socket; socket.create_connection(('127.0.0.1', 5432))\"")
        assert "Connection refused" in refused
    assert "gaierror" in await run("python3 -c \"import socket; socket.getaddrinfo('pypi.org', 443)\"")
    assert "time limit and was killed" in await run("sleep 1000")
    assert "output exceeded" in await run("yes")
    assert "File size limit exceeded" in await run("head -c 100000000 /dev/zero > /big")
    assert await _healthy(sandbox_server)


def _reaper_cli(server: DevServer, root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "SANDBOX_ROOT": str(root),
        "DEPLOYMENT_NAME": DEPLOYMENT,
        "SANDBOX_IDLE_TTL_SECONDS": "600",
        "PYTHONPATH": str(PROJECT_ROOT / "src"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "deep_agent_service.sandboxes.reaper", "--url", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout


async def test_reaper_cli_removes_expired_and_orphaned_boxes_and_keeps_busy_ones(
    sdk: LangGraphClient, sandbox_server: DevServer
) -> None:
    # Boxes in a root of their own (the server's in-process reaper does not look there).
    boxes = sandbox_root()
    provider = LocalProvider(boxes)
    live, orphan, idle, busy = [(await sdk.threads.create())["thread_id"] for _ in range(4)]
    for thread in (live, orphan, idle, busy):
        await provider.get_or_create(
            f"box-{thread}", {"deployment": DEPLOYMENT, "scope": "thread", "owner": thread}, 600
        )
    await sdk.threads.delete(orphan)
    long_ago = time.time() - 3600
    for thread in (idle, busy):
        os.utime(boxes / f"box-{thread}" / "lock", (long_ago, long_ago))
    busy_box = await provider.get(f"box-{busy}")
    assert busy_box is not None
    command = asyncio.create_task(busy_box.aexecute("sleep 60"))
    await asyncio.sleep(1)
    os.utime(boxes / f"box-{busy}" / "lock", (long_ago, long_ago))

    dry = await asyncio.to_thread(_reaper_cli, sandbox_server, boxes, "--dry-run")
    assert f"would delete box-{orphan}" in dry and f"would delete box-{idle}" in dry
    assert len(await provider.list({})) == 4

    report = await asyncio.to_thread(_reaper_cli, sandbox_server, boxes)
    assert f"deleted box-{orphan}" in report and "no longer exists" in report
    assert f"deleted box-{idle}" in report and "expired" in report
    assert f"kept box-{busy}: busy" in report
    assert sorted(info.name for info in await provider.list({})) == sorted([f"box-{live}", f"box-{busy}"])
    command.cancel()  # stops the command (its process tree is killed)
    with contextlib.suppress(asyncio.CancelledError):
        await command


async def test_the_server_reaps_the_sandbox_of_a_deleted_thread(
    sdk: LangGraphClient, sandbox_server: DevServer
) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "run echo bye", thread_id=thread)
    assert len(await _boxes(sandbox_server, owner=thread)) == 1
    await sdk.threads.delete(thread)
    for _ in range(40):  # the in-server reaper runs every second here
        if not await _boxes(sandbox_server, owner=thread):
            break
        await asyncio.sleep(0.25)
    assert await _boxes(sandbox_server, owner=thread) == []
    assert await _healthy(sandbox_server)


async def test_memory_is_synced_into_the_sandbox_and_back(sdk: LangGraphClient) -> None:
    assistant = (await sdk.assistants.create(graph_id="agent", name=f"sync-{uuid.uuid4().hex[:6]}"))["assistant_id"]
    await ask(sdk, "remember tea is green", assistant_id=assistant)
    thread = (await sdk.threads.create())["thread_id"]
    assert "tea is green" in await ask(sdk, "run cat /memories/notes.md", assistant_id=assistant, thread_id=thread)
    await ask(sdk, "run echo coffee is black >> /memories/notes.md", assistant_id=assistant, thread_id=thread)
    recalled = await ask(sdk, "what do you remember", assistant_id=assistant)
    assert "tea is green" in recalled and "coffee is black" in recalled
