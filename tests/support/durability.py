"""Servers for durability tests: configs with the test-only `slow` graph, Aegra on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langgraph_sdk.client import LangGraphClient

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port, isolated_config, start_server
from tests.support.server import BASE_ENV

# Short leases so a crashed worker's run is reclaimed in seconds (defaults: 30 s lease, 15 s reaper).
FAST_RECOVERY = {"LEASE_DURATION_SECONDS": "5", "HEARTBEAT_INTERVAL_SECONDS": "2", "REAPER_INTERVAL_SECONDS": "1"}
SLOW_GRAPH = f"{PROJECT_ROOT / 'tests' / 'support' / 'slow_graph.py'}:graph"
TERMINAL = frozenset({"success", "error", "interrupted", "timeout"})


def config_with_slow_graph(workdir: Path, env: Mapping[str, str]) -> Path:
    """The project's `langgraph.json` (absolute paths) plus the test-only `slow` graph."""
    path = isolated_config(workdir, env)
    config = json.loads(path.read_text())
    config["graphs"]["slow"] = SLOW_GRAPH
    path.write_text(json.dumps(config, indent=2))
    return path


def launch_dev(workdir: Path, env: Mapping[str, str] | None = None) -> DevServer:
    """`langgraph dev` with the `slow` graph; data in `workdir/.langgraph_api` (reused on restart)."""
    full_env = {**BASE_ENV, **(env or {})}
    config = config_with_slow_graph(workdir, full_env)
    return start_server(
        port=free_port(), env=full_env, log_path=workdir / "server.log", cwd=workdir, config=config, timeout=180
    )


def start_aegra_instance(
    name: str,
    *,
    workdir: Path,
    database_url: str,
    call_log: Path,
    redis_url: str = selfhost.DEFAULT_REDIS,
    env: Mapping[str, str] | None = None,
) -> DevServer:
    """One Aegra instance of a test cluster: the `slow` graph, short leases, the call log; logs to `<name>.log`.

    `env` adds to (or overrides) that environment, e.g. `WORKER_DRAIN_TIMEOUT`."""
    config = config_with_slow_graph(workdir, BASE_ENV)
    full_env = {
        **BASE_ENV,
        **FAST_RECOVERY,
        **selfhost.aegra_env(database_url, redis_url=redis_url, config=config),
        "CALL_LOG": str(call_log),
        **(env or {}),
    }
    log_path = workdir / f"{name}.log"
    return selfhost.start_aegra(port=free_port(), env=full_env, log_path=log_path, cwd=workdir, timeout=180)


def unique_database(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def call_lines(log: Path, thread_id: str, kind: str) -> list[str]:
    if not log.exists():
        return []
    return [line for line in log.read_text().splitlines() if line.startswith(f"{kind} {thread_id}")]


def repeated(lines: list[str]) -> int:
    """How many log lines occur more than once (a repeated model call with the same input)."""
    return sum(count - 1 for count in Counter(lines).values() if count > 1)


async def wait_for_line(log: Path, thread_id: str, kind: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not call_lines(log, thread_id, kind):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind!r} line for thread {thread_id} in {log} after {within:.0f}s")
        await asyncio.sleep(0.05)


async def wait_for_run(client: LangGraphClient, thread_id: str, run_id: str, within: float) -> dict[str, Any]:
    """Poll until the run reaches a terminal status; return the run (raise on timeout)."""
    deadline = time.monotonic() + within
    while True:
        run = dict(await client.runs.get(thread_id, run_id))
        if run["status"] in TERMINAL:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']!r} after {within:.0f}s")
        await asyncio.sleep(0.2)
