"""`kill -9` of `langgraph dev` mid-run. Its in-memory runtime writes threads, runs and checkpoints to
`.langgraph_api/` every 10 s (and at a clean shutdown): what was written before the crash comes
back on restart, the rest is gone. See docs/operations.md for the measured window."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from langgraph_sdk.errors import NotFoundError

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import last_ai_text
from tests.support.durability import call_lines, launch_dev, repeated, wait_for_line, wait_for_run

FLUSH_INTERVAL_SECONDS = 10  # langgraph_runtime_inmem persists every 10 s


async def _start_slow_run(workdir: Path, seconds: int) -> tuple[DevServer, str, str, Path]:
    log = workdir / "calls.log"
    server = launch_dev(workdir, {"CALL_LOG": str(log)})
    client = connect(url=server.url)
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        thread_id, "slow", input={"messages": [{"role": "user", "content": f"sleep {seconds}"}]}
    )
    await wait_for_line(log, thread_id, "tool-start")
    return server, thread_id, run["run_id"], log


async def test_a_run_flushed_before_the_crash_resumes_after_restart_without_repeating_the_model_call(
    tmp_path: Path,
) -> None:
    server, thread_id, run_id, log = await _start_slow_run(tmp_path, seconds=12)
    await asyncio.sleep(FLUSH_INTERVAL_SECONDS + 1)  # at least one flush since the run started
    killed_at = time.monotonic()
    server.kill()
    restarted = launch_dev(tmp_path, {"CALL_LOG": str(log)})
    try:
        client = connect(url=restarted.url)
        while len(call_lines(log, thread_id, "tool-start")) < 2:
            assert time.monotonic() - killed_at < 120, "the run was not picked up again after the restart"
            await asyncio.sleep(0.1)
        resumed_after = time.monotonic() - killed_at
        finished = await wait_for_run(client, thread_id, run_id, within=120)
        completed_after = time.monotonic() - killed_at
        print(
            f"\n[langgraph dev kill -9] resumed {resumed_after:.1f}s, completed {completed_after:.1f}s after the kill"
        )
        model_calls = call_lines(log, thread_id, "model")
        assert finished["status"] == "success"
        assert repeated(model_calls) == 0 and len(model_calls) == 2, f"model calls: {model_calls}"
        state = await client.threads.get_state(thread_id)
        assert last_ai_text(state) == "Done sleeping: slept 12s"
    finally:
        restarted.stop()


async def test_a_crash_inside_the_flush_window_loses_the_whole_thread_or_nothing(tmp_path: Path) -> None:
    """Killed right after the run started: the thread either never reached disk (gone, 404) or it
    comes back and its run completes; never a thread whose run is silently stuck or dropped."""
    server, thread_id, run_id, log = await _start_slow_run(tmp_path, seconds=2)
    server.kill()
    restarted = launch_dev(tmp_path, {"CALL_LOG": str(log)})
    try:
        client = connect(url=restarted.url)
        try:
            await client.threads.get(thread_id)
        except NotFoundError:
            print("\n[langgraph dev kill -9 inside the flush window] thread and run lost (never flushed)")
            return
        finished = await wait_for_run(client, thread_id, run_id, within=120)
        print(f"\n[langgraph dev kill -9 inside the flush window] flushed in time; run {finished['status']}")
        assert finished["status"] == "success"
        assert repeated(call_lines(log, thread_id, "model")) == 0
    finally:
        restarted.stop()


pytestmark = pytest.mark.integration
