"""Aegra at scale: 500 concurrent threads on one instance, then on two, sharing one PostgreSQL + Redis.

Each thread gets one offline-model run (`plan: measure; compare`: one tool call, one answer), all
started at once through langgraph-sdk (`threads.create`, then `runs.wait`), spread evenly over the
instances. Reported per setup: errors (target 0), p50/p95 of a run from its thread's creation to its
end, and runs/s over the whole burst; the two-instance row's baseline is the one-instance row.
PostgreSQL and Redis are the bench's own (tests/support/own_services.py), never the machine's.
Run: `python -m bench.aegra_scale` (part of `python -m bench`); `BENCH_AEGRA_THREADS` (default 500).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from tests.support.own_services import own_postgres, own_redis

from bench.common import Row, Sample, report
from deep_agent_service.client import connect
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port, isolated_config

THREADS = int(os.environ.get("BENCH_AEGRA_THREADS", "500"))
PROMPT = "plan: measure; compare"
ENV = {"MODEL": "offline", "AUTH_MODE": "local", "LANGSMITH_TRACING": "false", "LANGGRAPH_NO_VERSION_CHECK": "true"}


async def burst(urls: list[str], threads: int) -> tuple[list[float], list[str], float]:
    """(run latencies in ms, errors, runs/s): `threads` runs at once, round-robin over `urls`."""
    clients = [connect(url=url, timeout=600) for url in urls]
    payload = {"messages": [{"role": "user", "content": PROMPT}]}

    async def one(index: int) -> float:
        client = clients[index % len(clients)]
        started = time.perf_counter()
        thread = await client.threads.create()
        result = await client.runs.wait(thread["thread_id"], "agent", input=payload, raise_error=False)
        if not isinstance(result, dict) or "__error__" in result or not result.get("messages"):
            raise RuntimeError(f"run ended without an answer: {str(result)[:200]}")
        return (time.perf_counter() - started) * 1000

    began = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(threads)), return_exceptions=True)
    elapsed = time.perf_counter() - began
    latencies = [o for o in outcomes if isinstance(o, float)]
    errors = [f"{type(o).__name__}: {o}"[:200] for o in outcomes if isinstance(o, BaseException)]
    return latencies, errors, len(latencies) / elapsed


def _start(workdir: Path, name: str, env: dict[str, str]) -> DevServer:
    log = workdir / f"{name}.log"
    return selfhost.start_aegra(port=free_port(), env=env, log_path=log, cwd=workdir, timeout=180)


async def run() -> list[Row]:
    selfhost.ensure_aegra_venv()
    workdir = Path(tempfile.mkdtemp(prefix="bench-aegra-scale-"))
    os.chmod(workdir, 0o711)  # as root, sandboxes run as nobody, who must reach SANDBOX_ROOT below it
    results: dict[int, tuple[list[float], list[str], float]] = {}
    with own_postgres() as postgres, own_redis() as redis:
        database_url = selfhost.create_database("scale", postgres.server_url)
        config = isolated_config(workdir, ENV)
        env = {**ENV, **selfhost.aegra_env(database_url, redis_url=redis.url, config=config)}
        servers = [_start(workdir, "a", env)]
        try:
            await burst([servers[0].url], 5)  # warm-up: first runs, first connections
            results[1] = await burst([servers[0].url], THREADS)
            servers.append(_start(workdir, "b", env))
            await burst([servers[1].url], 5)
            results[2] = await burst([s.url for s in servers], THREADS)
        finally:
            for server in servers:
                server.stop()
    rows: list[Row] = []
    for instances, (latencies, errors, per_second) in results.items():
        baseline = Sample.of(results[1][0]) if instances == 2 and results[1][0] else None
        if errors:
            print(f"{instances} instance(s): {len(errors)} errors, e.g. {errors[:3]}")
        rows.append(
            Row(
                f"Aegra x{instances}, {THREADS} concurrent threads",
                Sample.of(latencies) if latencies else Sample(0, 0, 0),
                baseline,
                f"0 errors ({len(errors)}); {per_second:.1f} runs/s",
                not errors and len(latencies) == THREADS,
            )
        )
    return rows


def main() -> list[Row]:
    return report("aegra_scale", run)


if __name__ == "__main__":
    main()
