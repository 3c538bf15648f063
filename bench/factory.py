"""Graph factory cost: first run, cold (first compile) and warm (cached), against a bare `create_deep_agent`.

Targets: a warm factory call (what the server pays on every run and every state read) under 1 ms p50;
the first run's call, right after the server imported the graph module (which compiles the default
assistant's agent), under the server's 100 ms "Slow graph load" warning.
Run: `python -m bench.factory` (or `make bench`).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("MODEL", "offline")

from deepagents import create_deep_agent
from langgraph.store.memory import InMemoryStore
from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

from bench.common import Row, Sample, report, time_async, time_sync
from deep_agent_service.builder import build_agent
from deep_agent_service.offline_model import OfflineChatModel

WARM_REPEAT = 2000
COLD_REPEAT = 15
SLOW_LOAD_MS = 100.0  # langgraph-api warns "Slow graph load" above this


async def run() -> list[Row]:
    from agent import agent

    store = InMemoryStore()
    run_runtime: Any = _ExecutionRuntime(access_context="threads.create_run", user=None, store=store)
    read_runtime: Any = _ReadRuntime(access_context="threads.read", user=None, store=store)
    config: Any = {"configurable": {"thread_id": "t", "assistant_id": "a"}}

    # the first factory call of the process, as the server's first run makes it (default assistant)
    first_run = Sample.of(await time_async(lambda: agent(config, run_runtime), 1))
    baseline = Sample.of(time_sync(lambda: create_deep_agent(model=OfflineChatModel()), COLD_REPEAT))

    def cold_call(runtime: Any) -> Any:
        build_agent.cache_clear()
        return agent(config, runtime)

    cold = Sample.of(await time_async(lambda: cold_call(run_runtime), COLD_REPEAT))
    cold_read = Sample.of(await time_async(lambda: cold_call(read_runtime), COLD_REPEAT))
    warm_run = Sample.of(await time_async(lambda: agent(config, run_runtime), WARM_REPEAT))
    warm_read = Sample.of(await time_async(lambda: agent(config, read_runtime), WARM_REPEAT))
    return [
        Row("factory first run after start-up", first_run, baseline, "< 100 ms", first_run.p95 < SLOW_LOAD_MS),
        Row("factory cold, threads.create_run", cold, baseline, "reported (once per settings)", True),
        Row("factory cold, threads.read", cold_read, baseline, "reported (once per settings)", True),
        Row("factory warm, threads.create_run", warm_run, baseline, "p50 < 1 ms", warm_run.p50 < 1.0),
        Row("factory warm, threads.read", warm_read, baseline, "p50 < 1 ms", warm_read.p50 < 1.0),
    ]


def main() -> list[Row]:
    return report("factory", run)


if __name__ == "__main__":
    main()
