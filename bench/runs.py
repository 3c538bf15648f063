"""Per-run latency of the full service against a bare deep agent, in process and through one server.

Both graphs use the same offline model. In process (`ainvoke`) isolates the service's own cost;
through `langgraph dev` (both graphs registered in one bench-only config, same auth) adds the
server's queue. Sequential runs and 50 concurrent threads; then a scale run of 200 concurrent
threads on the full service (errors, p95) and the server's memory growth over them, per 1,000
threads (each with one run).
Run: `python -m bench.runs` (part of `python -m bench`).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MODEL", "offline")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from bench.common import Row, Sample, report
from deep_agent_service.builder import AssistantSettings, build_agent
from deep_agent_service.devserver import DevServer, free_port, isolated_config, start_server

PROMPT = "plan: measure; compare"  # one model call with a tool call, one final answer
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "20"))
CONCURRENT = int(os.environ.get("BENCH_CONCURRENT", "50"))
SCALE = int(os.environ.get("BENCH_SCALE", "200"))
IN_PROCESS = int(os.environ.get("BENCH_IN_PROCESS", "60"))
BENCH_ENV = {
    "MODEL": "offline",
    "AUTH_MODE": "local",
    "LANGSMITH_TRACING": "false",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "N_JOBS_PER_WORKER": "50",
}
LOCAL_USER = {"identity": "bench", "org": "bench", "role": "member"}


def _message() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": PROMPT}]}


async def in_process() -> tuple[Sample, Sample]:
    from bench.bare_agent import graph as bare

    service = build_agent(AssistantSettings()).copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})
    baseline = bare.copy(update={"checkpointer": InMemorySaver()})
    ours: list[float] = []
    base: list[float] = []
    for index in range(IN_PROCESS):
        for graph, sink in ((service, ours), (baseline, base)):
            config = {
                "configurable": {"thread_id": f"t{index}", "assistant_id": "a", "langgraph_auth_user": LOCAL_USER}
            }
            start = time.perf_counter()
            await graph.ainvoke(_message(), config)
            sink.append((time.perf_counter() - start) * 1000)
    return Sample.of(ours[5:]), Sample.of(base[5:])


def start_bench_server(workdir: Path) -> DevServer:
    config_path = isolated_config(workdir, BENCH_ENV)
    config = json.loads(config_path.read_text())
    config["graphs"]["bare"] = str(Path(__file__).parent / "bare_agent.py") + ":graph"
    config_path.write_text(json.dumps(config, indent=2))
    return start_server(
        port=free_port(), env=BENCH_ENV, log_path=workdir / "server.log", cwd=workdir, config=config_path
    )


async def one_run(client: LangGraphClient, graph_id: str) -> float:
    thread = await client.threads.create()
    start = time.perf_counter()
    await client.runs.wait(thread["thread_id"], graph_id, input=_message(), raise_error=True)
    return (time.perf_counter() - start) * 1000


async def sequential(client: LangGraphClient) -> tuple[Sample, Sample]:
    ours: list[float] = []
    base: list[float] = []
    for _ in range(SEQUENTIAL):
        ours.append(await one_run(client, "agent"))
        base.append(await one_run(client, "bare"))
    return Sample.of(ours), Sample.of(base)


async def concurrent(client: LangGraphClient, graph_id: str, count: int) -> tuple[list[float], int]:
    results = await asyncio.gather(*(one_run(client, graph_id) for _ in range(count)), return_exceptions=True)
    times = [r for r in results if isinstance(r, float)]
    return times, len(results) - len(times)


def server_rss_mib(server: DevServer) -> float:
    import psutil

    process = psutil.Process(server.process.pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


async def through_server() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        os.chmod(tmp, 0o711)  # sandboxes (run as nobody under root) live below it
        server = start_bench_server(Path(tmp))
        try:
            client = get_client(url=server.url)
            for graph_id in ("agent", "bare"):  # warm both graphs (first compile, imports)
                await one_run(client, graph_id)
            seq_ours, seq_base = await sequential(client)
            conc_ours_times, conc_ours_errors = await concurrent(client, "agent", CONCURRENT)
            conc_base_times, _ = await concurrent(client, "bare", CONCURRENT)
            conc_ours, conc_base = Sample.of(conc_ours_times), Sample.of(conc_base_times)
            rss_before = server_rss_mib(server)
            scale_times, scale_errors = await concurrent(client, "agent", SCALE)
            scale = Sample.of(scale_times) if scale_times else Sample(0, 0, 0)
            rss_per_1000 = (server_rss_mib(server) - rss_before) * 1000 / SCALE
        finally:
            server.stop()
    rss = Sample(rss_per_1000, rss_per_1000, 0.0)
    return [
        Row("server run, sequential", seq_ours, seq_base, "ratio <= 1.10", seq_ours.p50 <= 1.10 * seq_base.p50),
        Row(
            f"server run, {CONCURRENT} concurrent",
            conc_ours,
            conc_base,
            "ratio <= 1.10, 0 errors",
            conc_ours.p50 <= 1.10 * conc_base.p50 and conc_ours_errors == 0,
        ),
        Row(f"server run, {SCALE} concurrent (p95)", scale, None, f"0 errors ({scale_errors})", scale_errors == 0),
        Row(f"server RSS MiB / 1,000 threads (x{SCALE}, 1 run each)", rss, None, "reported", True),
    ]


async def run() -> list[Row]:
    ours, base = await in_process()
    rows = [Row("in-process run (ainvoke)", ours, base, "ratio <= 1.10", ours.p50 <= 1.10 * base.p50)]
    return rows + await through_server()


def main() -> list[Row]:
    return report("runs", run)


if __name__ == "__main__":
    main()
