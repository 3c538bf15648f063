"""SIGTERM with a run in flight: what `langgraph dev` does (measured, then documented in the runbook).

The server gets SIGTERM (what a deploy or `docker stop` sends) while a tool call is running. It must
stop taking new requests and exit within the grace period, and after a restart the run must not be
silently stuck or lost: it comes back and completes.

Measured: `langgraph dev` does not drain. It stops within a second, killed by the signal (exit
status -15, 143 in a shell) rather than exiting 0, having written the run to `.langgraph_api/`; after a restart the run
is picked up again and the interrupted tool call runs a second time. The test pins that behaviour
(a change in it shows up here); docs/operations.md says what an operator does about it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from deep_agent_service.client import connect
from tests.support.durability import launch_dev, wait_for_line, wait_for_run
from tests.support.fault_table import FaultCase, record

GRACE_SECONDS = 30


async def test_sigterm_with_a_run_in_flight_on_langgraph_dev(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    server = launch_dev(tmp_path, {"CALL_LOG": str(log)})
    client = connect(url=server.url)
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(thread_id, "slow", input={"messages": [{"role": "user", "content": "sleep 5"}]})
    await wait_for_line(log, thread_id, "tool-start")

    signalled_at = time.monotonic()
    os.killpg(server.process.pid, signal.SIGTERM)
    await asyncio.sleep(0.5)
    with pytest.raises(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2) as http:
            await http.post(f"{server.url}/threads", json={})  # no new work once draining
    code = await asyncio.to_thread(server.process.wait, GRACE_SECONDS)
    exited_after = time.monotonic() - signalled_at

    restarted = launch_dev(tmp_path, {"CALL_LOG": str(log)})
    try:
        after = connect(url=restarted.url)
        finished = await wait_for_run(after, thread_id, run["run_id"], within=60)
        completed_after = time.monotonic() - signalled_at
    finally:
        restarted.stop()
    tool_starts = len([line for line in log.read_text().splitlines() if line.startswith(f"tool-start {thread_id}")])
    record(
        FaultCase(
            fault="SIGTERM with a run in flight",
            server="langgraph dev",
            in_flight=1,
            client_saw=(
                f"new requests refused; exit code {code} after {exited_after:.1f}s; run {finished['status']!r} "
                f"after the restart (tool started {tool_starts}x)"
            ),
            lost="nothing" if finished["status"] == "success" else f"the run ({finished['status']})",
            recovery_seconds=completed_after,
        )
    )
    assert code in (0, -signal.SIGTERM), f"langgraph dev exited {code} on SIGTERM"
    assert finished["status"] == "success", "the run in flight at SIGTERM was resumed after the restart"
    assert tool_starts == 2, "the interrupted tool call ran again (tools must be safe to repeat)"


pytestmark = pytest.mark.integration
