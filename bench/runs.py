"""Per-run latency of the full service against a bare deep agent, in process and through one server.

"The full service" is what the performance issue names: auth, four memory mounts (private, user,
assistant, org), guardrails, PII (every type on, `redact`), the lazy sandbox. The fifth mount,
`/skills/` (deepagents' `SkillsMiddleware`), is measured as a row of its own, in process.
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
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MODEL", "offline")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph_sdk.client import LangGraphClient

from bench.common import Row, Sample, report
from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.client import connect
from deep_agent_service.guardrails.config import PII_TYPES, GuardrailOverrides
from deep_agent_service.server.devserver import DevServer, free_port, isolated_config, start_server

PROMPT = "plan: measure; compare"  # one model call with a tool call, one final answer
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "20"))
CONCURRENT = int(os.environ.get("BENCH_CONCURRENT", "50"))
CONCURRENT_ROUNDS = int(os.environ.get("BENCH_CONCURRENT_ROUNDS", "10"))  # one burst's p50 swings 0.98-1.45 s
FIRST_RUN_OF = 10  # the first run after start-up is compared with this one
FIRST_RUN_STARTS = 3
SCALE = int(os.environ.get("BENCH_SCALE", "200"))
IN_PROCESS = int(os.environ.get("BENCH_IN_PROCESS", "60"))
FOUR_MOUNTS = ("memories", "profile", "shared", "policies")
PII_ON = {f"PII_{pii_type.upper()}": "redact" for pii_type in PII_TYPES}
BENCH_ENV = {
    "MODEL": "offline",
    "AUTH_MODE": "local",
    "LANGSMITH_TRACING": "false",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "N_JOBS_PER_WORKER": "50",
    **PII_ON,
}
PII_OVERRIDES = GuardrailOverrides(**{f"pii_{pii_type}": "redact" for pii_type in PII_TYPES})
SERVICE = AssistantSettings(mounts=FOUR_MOUNTS, guardrails=PII_OVERRIDES)
SERVICE_WITH_SKILLS = AssistantSettings(guardrails=PII_OVERRIDES)  # all five mounts (the default)
LOCAL_USER = {"identity": "bench", "org": "bench", "role": "member"}


def _message() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": PROMPT}]}


async def in_process() -> tuple[Sample, Sample, Sample]:
    """The service, the service with `/skills/`, and the bare agent, interleaved run by run."""
    from bench.bare_agent import graph as bare

    def with_memory(settings: AssistantSettings) -> Any:
        return build_agent(settings).copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})

    graphs = {
        "service": with_memory(SERVICE),
        "skills": with_memory(SERVICE_WITH_SKILLS),
        "bare": bare.copy(update={"checkpointer": InMemorySaver()}),
    }
    timings: dict[str, list[float]] = {name: [] for name in graphs}
    for index in range(IN_PROCESS):
        for name, graph in graphs.items():
            config = {
                "configurable": {"thread_id": f"t{index}", "assistant_id": "a", "langgraph_auth_user": LOCAL_USER}
            }
            start = time.perf_counter()
            await graph.ainvoke(_message(), config)
            timings[name].append((time.perf_counter() - start) * 1000)
    service, skills, base = (Sample.of(timings[name][5:]) for name in graphs)
    return service, skills, base


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


async def sequential(client: LangGraphClient, service: str) -> tuple[Sample, Sample]:
    ours: list[float] = []
    base: list[float] = []
    for _ in range(SEQUENTIAL):
        ours.append(await one_run(client, service))
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
            client = connect(url=server.url)
            settings = {"assistant_settings": {"mounts": list(FOUR_MOUNTS)}}  # PII: deployment-wide, BENCH_ENV
            service = (await client.assistants.create(graph_id="agent", config={"configurable": settings}))[
                "assistant_id"
            ]
            for graph_id in (service, "bare"):  # warm both graphs (first compile, imports)
                await one_run(client, graph_id)
            seq_ours, seq_base = await sequential(client, service)
            # Bursts of each alternate, so drift on a noisy machine hits both alike, and which goes
            # first swaps every round (a burst right after another meets the server still settling).
            conc_ours_times: list[float] = []
            conc_base_times: list[float] = []
            conc_ours_errors = 0
            for round_ in range(CONCURRENT_ROUNDS):
                for graph_id in (service, "bare") if round_ % 2 == 0 else ("bare", service):
                    times, errors = await concurrent(client, graph_id, CONCURRENT)
                    if graph_id == service:
                        conc_ours_times += times
                        conc_ours_errors += errors
                    else:
                        conc_base_times += times
            conc_ours, conc_base = Sample.of(conc_ours_times), Sample.of(conc_base_times)
            rss_before = server_rss_mib(server)
            scale_times, scale_errors = await concurrent(client, service, SCALE)
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
            "ratio <= 1.05, 0 errors",
            conc_ours.p50 <= 1.05 * conc_base.p50 and conc_ours_errors == 0,
        ),
        Row(f"server run, {SCALE} concurrent (p95)", scale, None, f"0 errors ({scale_errors})", scale_errors == 0),
        Row(f"server RSS MiB / 1,000 threads (x{SCALE}, 1 run each)", rss, None, "reported", True),
    ]


async def _first_and_tenth() -> tuple[list[float], list[float]]:
    """On a fresh server: the first FIRST_RUN_OF runs after start-up, service and bare alternating.

    The service's first run goes first, so it also pays the server's own first-run costs (its
    worker's first job); the bare agent's first run, second, is the baseline's excess."""
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        os.chmod(tmp, 0o711)
        server = start_bench_server(Path(tmp))
        try:
            client = connect(url=server.url)
            settings = {"assistant_settings": {"mounts": list(FOUR_MOUNTS)}}
            service = (await client.assistants.create(graph_id="agent", config={"configurable": settings}))[
                "assistant_id"
            ]
            ours: list[float] = []
            base: list[float] = []
            for _ in range(FIRST_RUN_OF):
                ours.append(await one_run(client, service))
                base.append(await one_run(client, "bare"))
        finally:
            server.stop()
    return ours, base


async def first_runs() -> Row:
    """The first run after start-up minus the tenth, on FIRST_RUN_STARTS fresh servers (one start is
    too noisy here: 11 to 142 ms on the same code); the median and each start are reported."""
    excesses: list[float] = []
    base_excesses: list[float] = []
    for _ in range(FIRST_RUN_STARTS):
        ours, base = await _first_and_tenth()
        print(f"first runs after start-up (ms): service {[round(x) for x in ours]}, bare {[round(x) for x in base]}")
        excesses.append(ours[0] - ours[-1])
        base_excesses.append(base[0] - base[-1])
    excess = statistics.median(excesses)
    each = ", ".join(f"{x:+.0f}" for x in excesses)
    return Row(
        f"server first run minus run {FIRST_RUN_OF} after start-up (median of {FIRST_RUN_STARTS} starts)",
        Sample(excess, max(excesses), 0.0),
        None,  # a difference of two runs can be negative: the bare agent's is in the target column
        f"reported (each start: {each} ms; bare: {statistics.median(base_excesses):+.0f} ms)",
        True,
    )


async def run() -> list[Row]:
    ours, skills, base = await in_process()
    rows = [
        Row("in-process run (ainvoke)", ours, base, "ratio <= 1.10", ours.p50 <= 1.10 * base.p50),
        Row("in-process run, + /skills/ mount", skills, base, "reported", True),
    ]
    return [*rows, *await through_server(), await first_runs()]


def main() -> list[Row]:
    return report("runs", run)


if __name__ == "__main__":
    main()
