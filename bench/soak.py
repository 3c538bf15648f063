"""A bounded soak: mixed traffic from several tenants against two Aegra instances, one restarted halfway.

    make soak                 # SOAK_MINUTES=30 by default
    SOAK_MINUTES=5 make soak

Aegra runs on a PostgreSQL and a Redis of the soak's own (tests/support/own_services.py), never the
machine's shared ones. Each tenant (its own API key, user and org) loops over conversations, memory
writes and reads, sandbox commands, PII and approvals (a write_file that pauses for approval, then is
resumed with approve, on the other instance; these run as the org's admin, whose assistant it is),
alternating between the two instances. Halfway through,
instance B gets SIGTERM and is started again. Reported: runs, errors (those during B's restart
listed apart), approval turns completed, RSS of each instance at start and end (and the malloc it runs
on: `SERVER_ALLOCATOR`), run latency p50/p95, runs/s.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from langgraph_sdk.client import LangGraphClient
from tests.support.chat import last_ai_text
from tests.support.durability import FAST_RECOVERY
from tests.support.own_services import own_postgres, own_redis
from tests.support.server import BASE_ENV, api_keys_env

from deep_agent_service.client import connect
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port

TENANTS = {f"soak-key-{n}": {"user": f"user{n}", "org": f"org{n % 2}", "role": "member"} for n in range(4)}
ADMINS = {f"soak-admin-{org}": {"user": f"admin{org}", "org": f"org{org}", "role": "admin"} for org in range(2)}
RSS_TARGET_PERCENT = 10.0  # instance A, from its start (before any run) to the end
APPROVAL = "write /memories/approved-{n}.md\nsoak {n}"
# the assistant of the approval turns: write_file pauses the run until a person decides
APPROVAL_SETTINGS = {"configurable": {"assistant_settings": {"interrupt_on": ["write_file"]}}}
TRAFFIC = (
    "plan: fetch; check; report",
    "remember soak fact {n}",
    "what do you remember",
    "run echo soak {n} && ls /",
    "my email is soak{n}@example.com, say hi",
    APPROVAL,
)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    restart_errors: list[str] = field(default_factory=list)
    approvals: int = 0
    rss_a_by_minute: list[float] = field(default_factory=list)


def rss_mb(server: DevServer) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def allocator(server: DevServer) -> str:
    """The malloc the server process really runs on: whether jemalloc is mapped into it."""
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    return "jemalloc" if "libjemalloc" in maps else "system"


def slope_per_minute(by_minute: list[float]) -> float | None:
    """Least-squares growth in MB a minute of the samples from minute 1 on (None with fewer than 3)."""
    if len(by_minute) < 3:
        return None
    return round(statistics.linear_regression(range(len(by_minute)), by_minute).slope, 2)


@functools.cache
def client_for(url: str, key: str) -> LangGraphClient:
    """One client (one connection pool) per instance and key for the whole soak, as a real client keeps."""
    return connect(url=url, api_key=key)


def run_error(result: object) -> str | None:
    if isinstance(result, dict) and "__error__" in result:
        return f"run error: {json.dumps(result['__error__'])[:200]}"
    return None


@dataclass(frozen=True)
class Approver:
    """An org admin's key and approval assistant: on Aegra assistants are per creator, so a member's
    run on the admin's assistant answers 404, and the approval turns run as the admin."""

    key: str
    assistant: str


async def approvers(url: str) -> dict[str, Approver]:
    """The approval assistant of each org, made by its admin (members may only read assistants)."""
    made = {}
    for key, who in ADMINS.items():
        client = connect(url=url, api_key=key)
        assistant = await client.assistants.create(graph_id="agent", config=APPROVAL_SETTINGS)
        made[who["org"]] = Approver(key, assistant["assistant_id"])
    return made


async def approval_turn(approver: Approver, url: str, resume_url: str, text: str) -> str | None:
    """A run that pauses on write_file, resumed with approve on the other instance; None when it wrote."""
    key, assistant = approver.key, approver.assistant
    client = client_for(url, key)
    thread = (await client.threads.create())["thread_id"]
    paused = await client.runs.wait(thread, assistant, input={"messages": [{"role": "user", "content": text}]})
    if (failure := run_error(paused)) is not None:
        return failure
    if (status := (await client.threads.get(thread))["status"]) != "interrupted":
        return f"approval: the run did not pause for write_file (thread status {status})"
    resumer = client_for(resume_url, key)
    result = await resumer.runs.wait(thread, assistant, command={"resume": {"decisions": [{"type": "approve"}]}})
    if (failure := run_error(result)) is not None:
        return failure
    path = text.splitlines()[0].removeprefix("write ")
    if (reply := last_ai_text(result)) != f"Updated file {path}":
        return f"approval: resumed run replied {reply[:200]!r}"
    return None


async def tenant_loop(
    key: str, urls: list[str], until: float, tally: Tally, restarting: asyncio.Event, *, approver: Approver
) -> None:
    n = 0
    while time.monotonic() < until:
        url = urls[n % len(urls)]
        client = client_for(url, key)
        template = TRAFFIC[n % len(TRAFFIC)]
        text = template.format(n=n)
        started = time.monotonic()
        failure: str | None = None
        try:
            if template == APPROVAL:
                failure = await approval_turn(approver, url, urls[(n + 1) % len(urls)], text)
            else:
                thread = await client.threads.create()
                result = await client.runs.wait(
                    thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": text}]}
                )
                failure = run_error(result)
        except httpx.HTTPStatusError as error:  # the server's answer says why
            failure = f"{template[:12]!r}: HTTP {error.response.status_code} {error.response.text[:200]}"
        except Exception as error:  # counted, not raised: the soak reports every failure
            failure = f"{template[:12]!r}: {type(error).__name__}: {str(error)[:200]}"
        if failure is None:
            tally.latencies.append(time.monotonic() - started)
            tally.approvals += template == APPROVAL
        else:
            # B's restart: a call to B while it restarts, or to the B that was stopped
            during_restart = url != urls[0] and (restarting.is_set() or url not in urls)
            target = tally.restart_errors if during_restart else tally.errors
            target.append(failure)
        n += 1


async def progress(tally: Tally, began: float, until: float, watched: DevServer) -> None:
    """A line a minute on stderr, so a long soak shows it is alive, how it goes and whether the
    RSS of instance A (never restarted) levels off or keeps climbing."""
    while (now := time.monotonic()) < until:
        await asyncio.sleep(min(60.0, until - now))
        elapsed = time.monotonic() - began
        tally.rss_a_by_minute.append(round(rss_mb(watched), 1))
        print(
            f"[soak {elapsed / 60:4.1f} min] runs {len(tally.latencies)}, approvals {tally.approvals}, "
            f"errors {len(tally.errors)}, during B's restart {len(tally.restart_errors)}, "
            f"RSS A {tally.rss_a_by_minute[-1]:.1f} MB"
            + (f"; last error: {tally.errors[-1][:160]}" if tally.errors else ""),
            file=sys.stderr,
            flush=True,
        )


async def soak(minutes: float, python: Path, workdir: Path) -> dict[str, object]:
    with own_postgres() as postgres, own_redis() as redis:
        database_url = selfhost.create_database("soak", postgres.server_url)
        env = {
            **BASE_ENV,
            **api_keys_env({**TENANTS, **ADMINS}),
            **selfhost.aegra_env(database_url, redis_url=redis.url),
            **FAST_RECOVERY,
        }

        def start(name: str, port: int) -> DevServer:
            log = workdir / f"{name}.log"
            return selfhost.start_aegra(port=port, env=env, log_path=log, cwd=workdir, python=python, timeout=180)

        ports = [free_port(), free_port()]
        servers = [start("a", ports[0]), start("b", ports[1])]
        try:
            urls = [s.url for s in servers]
            rss_start = [rss_mb(s) for s in servers]
            allocators = [allocator(s) for s in servers]
            tally, restarting = Tally(), asyncio.Event()
            began = time.monotonic()
            until = began + minutes * 60
            by_org = await approvers(urls[0])
            loops = [
                asyncio.create_task(tenant_loop(k, urls, until, tally, restarting, approver=by_org[who["org"]]))
                for k, who in TENANTS.items()
            ]
            reporter = asyncio.create_task(progress(tally, began, until, servers[0]))
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
            reporter.cancel()
            elapsed = time.monotonic() - began
            rss_end = [rss_mb(s) for s in servers]
        finally:
            for server in servers:
                server.stop()
    runs = sorted(tally.latencies)
    return {
        "minutes": minutes,
        "tenants": len(TENANTS),
        "allocator": allocators[0],  # SERVER_ALLOCATOR (deep_agent_service/server/allocator.py)
        "runs": len(runs),
        "approvals_completed": tally.approvals,
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "errors_during_restart_of_b": len(tally.restart_errors),
        "restart_error_samples": tally.restart_errors[:3],
        "restart_of_b_seconds": round(restart_seconds, 1),
        "rss_mb_start": [round(x, 1) for x in rss_start],
        "rss_mb_end_a": round(rss_end[0], 1),
        "rss_a_change_percent": round(100 * (rss_end[0] - rss_start[0]) / rss_start[0], 1),
        "rss_a_by_minute": tally.rss_a_by_minute,
        # apart from the first minute's one-off growth (first runs: lazy imports, caches, pools)
        "rss_a_mb_per_minute_after_first": slope_per_minute(tally.rss_a_by_minute),
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
    flat = float(report["rss_a_change_percent"]) <= RSS_TARGET_PERCENT  # type: ignore[arg-type]
    if not flat:
        print(f"RSS of instance A grew more than {RSS_TARGET_PERCENT}% (target: flat within it)", file=sys.stderr)
    return 0 if report["errors"] == 0 and flat else 1


if __name__ == "__main__":
    sys.exit(main())
