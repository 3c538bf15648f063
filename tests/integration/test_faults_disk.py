"""Disk full where the sandboxes live: a 4 MB tmpfs mounted by the test as SANDBOX_ROOT (needs root).

Commands fail with the command's own clear error, memory (in the store, not on that disk) still
works, and the server stays up and keeps answering.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.fault_table import FaultCase, record
from tests.support.server import launch


@contextlib.contextmanager
def small_tmpfs(size: str = "4m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = Path(tempfile.mkdtemp(prefix="das-full-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0711", "tmpfs", str(path)], check=False)
    if mounted.returncode != 0:
        path.rmdir()
        pytest.skip("could not mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with small_tmpfs() as root:
        running = launch(Path(tmp_path_factory.mktemp("disk-full")), env={"SANDBOX_ROOT": str(root)})
        try:
            yield running
        finally:
            running.stop()


async def test_a_full_sandbox_disk_fails_commands_clearly_and_nothing_else(server: DevServer) -> None:
    client = connect(url=server.url)
    thread_id = (await client.threads.create())["thread_id"]
    filled = await ask(client, "run dd if=/dev/zero of=/fill bs=1M count=16; echo done", thread_id=thread_id)
    assert "No space left on device" in filled, filled
    started = time.monotonic()

    again = await ask(client, "run echo hello > /greeting && cat /greeting", thread_id=thread_id)
    assert "No space left" in again or "I/O error" in again or "error" in again.lower(), again
    assert "I will remember" in await ask(client, "remember the disk filled up"), "memory lives in the store"
    assert "the disk filled up" in await ask(client, "what do you remember")
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{server.url}/ok")).status_code == 200
    assert server.process.poll() is None, "the server stayed up"

    freed = await ask(client, "run rm -f /fill && echo freed", thread_id=thread_id)
    assert "freed" in freed
    assert "hello" in await ask(client, "run echo hello > /greeting && cat /greeting", thread_id=thread_id)
    record(
        FaultCase(
            fault="disk full under SANDBOX_ROOT",
            server="langgraph dev",
            in_flight=1,
            client_saw="the command's own 'No space left on device'; memory and the server unaffected",
            lost="nothing outside the sandbox",
            recovery_seconds=time.monotonic() - started,
        )
    )


pytestmark = pytest.mark.integration
