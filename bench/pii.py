"""PII filter cost: throughput on a 1 MB transcript, and the latency it adds to a model call.

Throughput: every PII type on, over a 1 MB transcript of prose with ~1% synthetic PII (the test
corpus). Latency: one run of the real deep agent on the offline model (one model call, a user
message of ~4 KB with PII), with the PII guardrail against the same agent without it.
Run: `python -m bench.pii` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("MODEL", "offline")

from deepagents import create_deep_agent
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from bench.common import Row, Sample, print_table, time_sync, write_json
from deep_agent_service.guardrails.pii import PIIFilter, PIIGuard
from deep_agent_service.memory.mounts import build_backend, mounts_for
from deep_agent_service.offline_model import OfflineChatModel

CORPUS = json.loads((Path(__file__).parents[1] / "tests" / "data" / "pii_corpus.json").read_text())["samples"]
ALL_TYPES: list[tuple[str, Any]] = [
    ("secret", "redact"),
    ("email", "redact"),
    ("credit_card", "mask"),
    ("ip", "hash"),
    ("url", "redact"),
]
PROSE = (
    "The quarterly review covered onboarding, the migration plan and open questions about the vendor "
    "contract. Action items were assigned to the platform team with a follow-up next Tuesday at 10:30. "
)
MB = 1024 * 1024
THROUGHPUT_REPEAT = 7
RUN_REPEAT = 60
WARM_UP = 5
MIN_MB_PER_S = 2.0
MAX_LATENCY_RATIO = 1.5


def transcript(size: int = MB) -> str:
    parts: list[str] = []
    length = index = 0
    while length < size:
        piece = PROSE if index % 10 else f"{PROSE}Contact: {CORPUS[index // 10 % len(CORPUS)]['value']}. "
        parts.append(piece)
        length += len(piece)
        index += 1
    return "".join(parts)[:size]


def _graph(with_pii: bool) -> Any:
    middleware = [PIIGuard(ALL_TYPES)] if with_pii else []
    agent = create_deep_agent(
        model=OfflineChatModel(), middleware=middleware, backend=build_backend(mounts_for(("memories",)))
    )
    return agent.copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})


async def _run_latency() -> tuple[Sample, Sample]:
    """Runs with and without the guard alternate, so drift on a noisy machine hits both alike."""
    message = (transcript(4096) + " " + CORPUS[0]["value"]).strip()
    user = {"identity": "bench", "org": "bench", "role": "member"}
    graphs = {with_pii: _graph(with_pii) for with_pii in (True, False)}
    samples: dict[bool, list[float]] = {True: [], False: []}
    for index in range(RUN_REPEAT + WARM_UP):
        for with_pii, graph in graphs.items():
            config = {"configurable": {"thread_id": f"t{index}", "assistant_id": "a", "langgraph_auth_user": user}}
            start = time.perf_counter()
            await graph.ainvoke({"messages": [{"role": "user", "content": message}]}, config)
            samples[with_pii].append((time.perf_counter() - start) * 1000)
    return Sample.of(samples[True][WARM_UP:]), Sample.of(samples[False][WARM_UP:])


def run() -> list[Row]:
    logging.getLogger("deep_agent_service.guardrails").setLevel(logging.ERROR)  # measure the filter, not stderr
    text = transcript()
    pii = PIIFilter(ALL_TYPES)
    millis = time_sync(lambda: pii.text(text, Counter(), "bench"), THROUGHPUT_REPEAT)
    throughput = Sample.of(millis)
    mb_per_s = 1000 / throughput.p50 * (len(text) / MB)
    ours, baseline = asyncio.run(_run_latency())
    added = ours.p50 - baseline.p50
    print(f"PII filter throughput: {mb_per_s:.1f} MB/s (1 MB transcript, 5 types, p50 {throughput.p50:.1f} ms)")
    print(f"added latency per model call: {added:.2f} ms (ratio {ours.p50 / baseline.p50:.3f})")
    return [
        Row(
            "PII filter, 1 MB transcript",  # a stable name: results compare by name between runs
            throughput,
            None,
            f">= {MIN_MB_PER_S:g} MB/s ({mb_per_s:.1f})",
            mb_per_s >= MIN_MB_PER_S,
        ),
        Row(
            "run with the PII guard",
            ours,
            baseline,
            f"ratio <= {MAX_LATENCY_RATIO}",
            ours.p50 <= MAX_LATENCY_RATIO * baseline.p50,
        ),
    ]


def main() -> list[Row]:
    started = time.perf_counter()
    rows = run()
    print_table(rows)
    print(f"results: {write_json('pii', rows)} ({time.perf_counter() - started:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
