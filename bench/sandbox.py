"""Local sandbox cost: cold (create + first command) and warm commands, against a bare `subprocess.run`.

The baseline is `subprocess.run(["/bin/sh", "-c", CMD])` with no isolation at all, measured in the
same run. The isolation cost is measured separately (bubblewrap alone, the same argv our provider
uses, run synchronously) so the table shows what is bubblewrap's and what is ours.
Targets: warm <= 1.2x the baseline plus the isolation cost; cold (create + first command) <= 50 ms.
Run: `python -m bench.sandbox` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.common import Row, Sample, print_table, time_async, time_sync, write_json
from deep_agent_service.sandboxes.isolation import Isolation, build_argv, prepare_root
from deep_agent_service.sandboxes.local import LocalProvider

COMMAND = "echo hi"
REPEAT = 60


def _reachable_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-sandboxes-"))
    root.chmod(0o711)  # as root, sandboxes run as nobody, which must reach the workspaces
    return root


async def run() -> list[Row]:
    root = _reachable_root()
    try:
        provider = LocalProvider(root)
        bare_argv = ["/bin/sh", "-c", COMMAND]
        isolated_root = root / "bwrap-only"
        await asyncio.to_thread(isolated_root.mkdir)
        await asyncio.to_thread(prepare_root, isolated_root)
        # exactly the provider's argv: bubblewrap plus the sandbox shell's resource limits
        argv = build_argv(isolated_root, COMMAND, network=False, isolation=Isolation.BWRAP, limits=provider.limits)
        warm_box = (await provider.get_or_create("warm", {}, 3600)).sandbox
        await warm_box.aexecute(COMMAND)
        # Interleaved, one of each per round, so drift on a noisy machine hits all three alike.
        timings: dict[str, list[float]] = {"bare": [], "bwrap": [], "warm": []}
        for _ in range(REPEAT):
            timings["bare"] += time_sync(lambda: subprocess.run(bare_argv, capture_output=True, check=True), 1)
            timings["bwrap"] += time_sync(lambda: subprocess.run(argv, capture_output=True, check=True), 1)
            timings["warm"] += await time_async(lambda: warm_box.aexecute(COMMAND), 1)
        bare, bwrap, warm = (Sample.of(timings[name]) for name in ("bare", "bwrap", "warm"))

        async def cold_call() -> object:
            acquired = await provider.get_or_create(f"cold-{uuid.uuid4().hex}", {}, 3600)
            return await acquired.sandbox.aexecute(COMMAND)

        cold = Sample.of(await time_async(cold_call, REPEAT // 2))
    finally:
        await asyncio.to_thread(shutil.rmtree, root, True)

    isolation_cost = bwrap.p50 - bare.p50
    warm_budget = 1.2 * bare.p50 + isolation_cost
    return [
        Row("bwrap alone (isolation cost)", bwrap, bare, "measured, reported", True),
        Row("sandbox warm command", warm, bare, f"p50 <= {warm_budget:.1f} ms", warm.p50 <= warm_budget),
        Row("sandbox cold create + first command", cold, bare, "p50 <= 50 ms", cold.p50 <= 50.0),
    ]


def main() -> list[Row]:
    rows = asyncio.run(run())
    print_table(rows)
    print(f"results: {write_json('sandbox', rows)}")
    return rows


if __name__ == "__main__":
    main()
