"""Local sandbox cost: warm and cold commands, a restart after a helper crash, against a bare `subprocess.run`.

The baseline is `subprocess.run(["/bin/sh", "-c", CMD])` with no isolation at all, measured in the
same run, interleaved with what it is compared to. "Cold" is today's fallback path
(SANDBOX_WARM_SECONDS=0: a fresh bubblewrap per command); "warm" runs on the box's running init
(warm.py), on its helper in C when `make setup` built it; "warm, Python helper" is the same on the
fallback helper; "warm job" is the same without the provider's plumbing around every command (the
thread hop off the event loop, the box's lock file, the result text), which the cold path pays too.
Targets: warm p50 <= 1.5x the baseline; create + first command <= 50 ms. Also reported: a warm
command in a workspace of 10,000 files, which the disk cap walks (not after every command: DiskClock).
Run: `python -m bench.sandbox` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import Row, Sample, print_table, time_async, time_sync, write_json
from deep_agent_service.sandboxes.local import LocalProvider, LocalSandbox
from deep_agent_service.sandboxes.warm import WarmInit, WarmJob, WarmPool

COMMAND = "echo hi"
# A workspace of 10,000 small files (a small npm project): the disk cap walks it (DiskClock).
BIG_WORKSPACE = (
    "mkdir -p /w && cd /w && for d in $(seq 100); do mkdir p$d; for f in $(seq 100); do : > p$d/f$f; done; done"
)
REPEAT = 60
WARM_TARGET = 1.5


def _reachable_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-sandboxes-"))
    root.chmod(0o711)  # as root, sandboxes run as nobody, which must reach the workspaces
    return root


def _helper_pid(init: WarmInit) -> int:
    """The helper (pid 1 of the box) as the host sees it: bubblewrap's only child."""
    children = Path(f"/proc/{init.process.pid}/task/{init.process.pid}/children").read_text()
    return int(children.split()[0])


def _rss_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MB: PSS shares the interpreter's pages fairly among its users."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if ":" in line
    )
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("Rss", "Pss"))  # type: ignore[return-value]


async def _box(provider: LocalProvider, name: str) -> LocalSandbox:
    box = (await provider.get_or_create(name, {}, 3600)).sandbox
    assert isinstance(box, LocalSandbox)
    await box.aexecute(COMMAND)  # a first command runs cold and starts the box's init
    await _ready(provider.warm, box, None)
    return box


async def _ready(pool: WarmPool, box: LocalSandbox, old: WarmInit | None) -> WarmInit | None:
    """The box's init once it runs (None when warm is off); waits out a background (re)start."""
    if not pool.enabled:
        return None
    for _ in range(2000):
        init = pool.init_of(box.id)
        if init is not None and init is not old:
            return init
        await asyncio.sleep(0.005)
    raise RuntimeError("the warm init did not start")


async def run() -> list[Row]:
    root = _reachable_root()
    pool = WarmPool(600, 64)
    python_pool = WarmPool(600, 1, "python")
    try:
        warm_provider = LocalProvider(root, warm=pool)
        cold_provider = LocalProvider(root, warm=WarmPool(0, 1))
        bare_argv = ["/bin/sh", "-c", COMMAND]
        warm_box = await _box(warm_provider, "warm")
        cold_box = await _box(cold_provider, "cold")
        python_box = await _box(LocalProvider(root, warm=python_pool), "warm-python")
        # Interleaved, one of each per round, so drift on a noisy machine hits all alike.
        timings: dict[str, list[float]] = {"bare": [], "cold": [], "warm": [], "py": [], "job": [], "restart": []}

        def warm_job() -> object:  # the warm path alone: no event-loop hop, lock file or result text
            return WarmJob(
                pool,
                warm_box.id,
                warm_box.workspace,
                COMMAND,
                limits=warm_provider.limits,
                full_flag=warm_box.workspace.parent / "full",
                disk_clock=warm_provider.disk_clock,
            ).run()

        async def bare() -> list[float]:
            return time_sync(lambda: subprocess.run(bare_argv, capture_output=True, check=True), 1)

        async def warm() -> list[float]:
            return await time_async(lambda: warm_box.aexecute(COMMAND), 1)

        async def cold() -> list[float]:
            return await time_async(lambda: cold_box.aexecute(COMMAND), 1)

        async def python_helper() -> list[float]:
            return await time_async(lambda: python_box.aexecute(COMMAND), 1)

        async def job() -> list[float]:
            return time_sync(warm_job, 1)

        steps = [("bare", bare), ("warm", warm), ("cold", cold), ("job", job), ("py", python_helper)]
        for round_ in range(REPEAT):
            # the order rotates every round: whichever runs right after another (a cold bubblewrap
            # start above all) pays for the caches it left, so no row always comes second
            for name, step in steps[round_ % len(steps) :] + steps[: round_ % len(steps)]:
                timings[name] += await step()
        restarted: list[float] = []
        for _ in range(REPEAT // 4):
            init = await _ready(pool, warm_box, None)
            assert init is not None
            os.kill(_helper_pid(init), signal.SIGKILL)
            await asyncio.to_thread(init.process.wait)
            crashed = time.perf_counter()
            # the first command after the crash runs cold and restarts the init in the background
            timings["restart"] += await time_async(lambda: warm_box.aexecute(COMMAND), 1)
            await _ready(pool, warm_box, init)
            restarted.append((time.perf_counter() - crashed) * 1000)
        bare, cold, warm, py, job, restart = (
            Sample.of(timings[n]) for n in ("bare", "cold", "warm", "py", "job", "restart")
        )
        back = Sample.of(restarted)

        async def create_call() -> object:
            acquired = await warm_provider.get_or_create(f"new-{uuid.uuid4().hex}", {}, 3600)
            return await acquired.sandbox.aexecute(COMMAND)

        created = Sample.of(await time_async(create_call, REPEAT // 4))
        big_box = await _box(warm_provider, "big")
        await big_box.aexecute(BIG_WORKSPACE)
        big_timings: dict[str, list[float]] = {"bare": [], "big": []}
        for _ in range(REPEAT):
            big_timings["bare"] += time_sync(lambda: subprocess.run(bare_argv, capture_output=True, check=True), 1)
            big_timings["big"] += await time_async(lambda: big_box.aexecute(COMMAND), 1)
        big, big_bare = Sample.of(big_timings["big"]), Sample.of(big_timings["bare"])
        init = pool.init_of(warm_box.id)
        assert init is not None
        bwrap_rss, bwrap_pss = _rss_mb(init.process.pid)
        helper_rss, helper_pss = _rss_mb(_helper_pid(init))
    finally:
        await asyncio.to_thread(pool.stop_all)
        await asyncio.to_thread(python_pool.stop_all)
        await asyncio.to_thread(shutil.rmtree, root, True)

    memory = Sample(p50=bwrap_rss + helper_rss, p95=bwrap_pss + helper_pss, spread=0.0)
    return [
        Row("sandbox cold command (fresh bubblewrap)", cold, bare, "measured, reported", True),
        Row("sandbox warm command", warm, bare, f"p50 <= {WARM_TARGET}x base", warm.p50 <= WARM_TARGET * bare.p50),
        Row("sandbox warm command, Python helper", py, bare, "measured, reported", True),
        Row(
            "sandbox warm job (no aexecute plumbing)",
            job,
            bare,
            f"p50 <= {WARM_TARGET}x base",
            job.p50 <= WARM_TARGET * bare.p50,
        ),
        Row("sandbox first command after a helper crash", restart, bare, "measured, reported", True),
        Row("sandbox crash -> warm again (init restart)", back, bare, "measured, reported", True),
        Row("sandbox create + first command", created, bare, "p50 <= 50 ms", created.p50 <= 50.0),
        Row("sandbox warm command, 10,000-file workspace", big, big_bare, "measured, reported", True),
        Row("warm init memory MB (p50=RSS, p95=PSS)", memory, None, "measured, reported", True),
    ]


def main() -> list[Row]:
    rows = asyncio.run(run())
    print_table(rows)
    print(f"results: {write_json('sandbox', rows)}")
    return rows


if __name__ == "__main__":
    main()
