"""Run latency on Aegra (PostgreSQL + Redis, two instances not needed) against `langgraph dev`.

The same offline-model run (`plan: measure; compare`: one tool call, one answer) on a new thread,
sequentially, through langgraph-sdk `runs.wait`, on each server started from the same
`langgraph.json`. The baseline is `langgraph dev`, measured in the same run.
Run: `python -m bench.selfhost` (needs PostgreSQL, Redis and the Aegra venv: `make aegra-venv`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from bench.common import Row, Sample, print_table, time_async, write_json
from deep_agent_service.client import connect
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port, isolated_config, start_server

PROMPT = "plan: measure; compare"
RUNS = int(os.environ.get("BENCH_SELFHOST_RUNS", "30"))
WARMUP = 3
ENV = {"MODEL": "offline", "AUTH_MODE": "local", "LANGSMITH_TRACING": "false", "LANGGRAPH_NO_VERSION_CHECK": "true"}


async def _latencies(server: DevServer, mode: str) -> list[float]:
    """`wait`: runs.wait (Aegra's Redis mode polls a done-key every 2 s); `stream`: runs.stream to the end."""
    client = connect(url=server.url)
    payload = {"messages": [{"role": "user", "content": PROMPT}]}

    async def one_run() -> None:
        thread_id = (await client.threads.create())["thread_id"]
        if mode == "wait":
            await client.runs.wait(thread_id, "agent", input=payload, raise_error=True)
        else:
            async for _ in client.runs.stream(thread_id, "agent", input=payload, stream_mode="values"):
                pass

    await time_async(one_run, WARMUP)
    return await time_async(one_run, RUNS)


async def _both(server: DevServer) -> dict[str, list[float]]:
    return {mode: await _latencies(server, mode) for mode in ("wait", "stream")}


def _aegra(workdir: Path, database_url: str, redis: bool) -> dict[str, list[float]]:
    config = isolated_config(workdir, ENV)
    env = {**ENV, **selfhost.aegra_env(database_url, config=config), "REDIS_BROKER_ENABLED": str(redis).lower()}
    server = selfhost.start_aegra(port=free_port(), env=env, log_path=workdir / "aegra.log", cwd=workdir)
    try:
        return asyncio.run(_both(server))
    finally:
        server.stop()


def main() -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-selfhost-"))
    database = f"bench_aegra_{os.getpid()}"
    config = isolated_config(workdir / "dev", ENV)
    dev = start_server(port=free_port(), env=ENV, log_path=workdir / "dev.log", cwd=workdir / "dev", config=config)
    try:
        dev_ms = asyncio.run(_both(dev))
    finally:
        dev.stop()
    selfhost.ensure_aegra_venv()
    url = selfhost.create_database(database)
    try:
        redis_ms = _aegra(workdir / "aegra-redis", url, redis=True)
        local_ms = _aegra(workdir / "aegra-local", url, redis=False)
    finally:
        selfhost.drop_database(database)
    rows = [
        Row(
            name=f"{label}, runs.{mode} (n={RUNS})",
            ours=Sample.of(measured[mode]),
            baseline=Sample.of(dev_ms[mode]),
            target="vs langgraph dev",
            passed=True,
        )
        for label, measured in (("Aegra+Redis (multi-instance)", redis_ms), ("Aegra, one instance", local_ms))
        for mode in ("wait", "stream")
    ]
    print_table(rows)
    print(f"results: {write_json('selfhost', rows)}")
    return rows


if __name__ == "__main__":
    main()
