"""A bounded soak: mixed traffic from several tenants against two Aegra instances, one restarted halfway.

    make soak                 # SOAK_MINUTES=30 by default
    SOAK_MINUTES=5 make soak

Aegra runs on a PostgreSQL and a Redis of the soak's own (tests/support/own_services.py), never the
machine's shared ones. Each tenant (its own API key, user and org) loops over conversations, memory
writes and reads, sandbox commands and PII, alternating between the two instances. Halfway through,
instance B gets SIGTERM and is started again. Reported: runs, errors (those during B's restart
listed apart), RSS of each instance at start and end, run latency p50/p95, runs/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from langgraph_sdk import get_client
from tests.support.own_services import own_postgres, own_redis
from tests.support.server import BASE_ENV, api_keys_env

from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port

TENANTS = {f"soak-key-{n}": {"user": f"user{n}", "org": f"org{n % 2}", "role": "member"} for n in range(4)}
TRAFFIC = (
    "plan: fetch; check; report",
    "remember soak fact {n}",
    "what do you remember",
    "run echo soak {n} && ls /",
    "my email is soak{n}@example.com, say hi",
)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    restart_errors: list[str] = field(default_factory=list)


def rss_mb(server: DevServer) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def tenant_loop(key: str, urls: list[str], until: float, tally: Tally, restarting: asyncio.Event) -> None:
    n = 0
    while time.monotonic() < until:
        url = urls[n % len(urls)]
        client = get_client(url=url, api_key=key)
        text = TRAFFIC[n % len(TRAFFIC)].format(n=n)
        started = time.monotonic()
        failure: str | None = None
        try:
            thread = await client.threads.create()
            result = await client.runs.wait(
                thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": text}]}
            )
            if isinstance(result, dict) and "__error__" in result:
                failure = f"run error: {json.dumps(result['__error__'])[:200]}"
        except Exception as error:  # counted, not raised: the soak reports every failure
            failure = f"{type(error).__name__}: {str(error)[:200]}"
        if failure is None:
            tally.latencies.append(time.monotonic() - started)
        else:
            # B's restart: a call to B while it restarts, or to the B that was stopped
            during_restart = url != urls[0] and (restarting.is_set() or url not in urls)
            target = tally.restart_errors if during_restart else tally.errors
            target.append(failure)
        n += 1


async def soak(minutes: float, python: Path, workdir: Path) -> dict[str, object]:
    with own_postgres() as postgres, own_redis() as redis:
        database_url = selfhost.create_database("soak", postgres.server_url)
        env = {
            **BASE_ENV,
            **api_keys_env(TENANTS),
            **selfhost.aegra_env(database_url, redis_url=redis.url),
            "LEASE_DURATION_SECONDS": "5",
            "HEARTBEAT_INTERVAL_SECONDS": "2",
            "REAPER_INTERVAL_SECONDS": "1",
        }

        def start(name: str, port: int) -> DevServer:
            log = workdir / f"{name}.log"
            return selfhost.start_aegra(port=port, env=env, log_path=log, cwd=workdir, python=python, timeout=180)

        ports = [free_port(), free_port()]
        servers = [start("a", ports[0]), start("b", ports[1])]
        try:
            urls = [s.url for s in servers]
            rss_start = [rss_mb(s) for s in servers]
            tally, restarting = Tally(), asyncio.Event()
            began = time.monotonic()
            until = began + minutes * 60
            loops = [asyncio.create_task(tenant_loop(k, urls, until, tally, restarting)) for k in TENANTS]
            await asyncio.sleep(minutes * 30)
            restarting.set()
            restart_began = time.monotonic()
            await asyncio.to_thread(servers[1].stop)
            # a fresh port: the old one may still be held by closing connections (clients follow urls[1])
            servers[1] = await asyncio.to_thread(start, "b", free_port())
            urls[1] = servers[1].url
            restart_seconds = time.monotonic() - restart_began
            restarting.clear()
            await asyncio.gather(*loops)
            elapsed = time.monotonic() - began
            rss_end = [rss_mb(s) for s in servers]
        finally:
            for server in servers:
                server.stop()
    runs = sorted(tally.latencies)
    return {
        "minutes": minutes,
        "tenants": len(TENANTS),
        "runs": len(runs),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "errors_during_restart_of_b": len(tally.restart_errors),
        "restart_of_b_seconds": round(restart_seconds, 1),
        "rss_mb_start": [round(x, 1) for x in rss_start],
        "rss_mb_end_a": round(rss_end[0], 1),
        "rss_a_change_percent": round(100 * (rss_end[0] - rss_start[0]) / rss_start[0], 1),
        "p50_ms": round(1000 * statistics.median(runs), 1) if runs else None,
        "p95_ms": round(1000 * runs[int(0.95 * (len(runs) - 1))], 1) if runs else None,
        "runs_per_second": round(len(runs) / elapsed, 2),
    }


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES") or 30)
    workdir = Path(tempfile.mkdtemp(prefix="das-soak-"))
    workdir.chmod(0o711)  # as root, sandboxes run as nobody, who must reach SANDBOX_ROOT below it
    report = asyncio.run(soak(minutes, selfhost.ensure_aegra_venv(), workdir))
    print(json.dumps(report, indent=2))
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
