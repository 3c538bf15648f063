"""Cost as work grows: per-run time at conversation turn 1, 10, 50, 100, and with 1,000 memory files.

In process (`ainvoke`, like `bench.runs`): the full service (`bench.runs.SERVICE`: four mounts,
guardrails, PII on every type) against the bare deep agent, same offline model, each with its own
`InMemorySaver` and `InMemoryStore`, one conversation thread per graph. Both conversations grow
turn by turn (`plan: ...`: four messages a turn), service and bare interleaved. "Turn N" is a run
on a thread that already holds N-1 turns: every trial forks from that same checkpoint, so the
trials of one length all see the same history; the medians are compared. The ratio must stay
<= 1.10 at every length: the service adds no slope of its own.

Then 1,000 files in `/memories/`: the service's are put in its store under the private mount's
namespace (`namespace_for(Scope.PRIVATE, ...)` for the bench user and assistant); the bare deep
agent gets the same 1,000 files in its own store, behind a `StoreBackend` route at `/memories/`
(deepagents' own long-term memory setup), so both list a store, not state. The run lists the mount
(`calls` with one `ls`), on a fresh thread each trial.
Run: `python -m bench.growth` (part of `python -m bench`); draws `docs/growth.png`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MODEL", "offline")

from deepagents import create_deep_agent
from deepagents.backends import CompositeBackend, StateBackend, StoreBackend
from deepagents.backends.utils import create_file_data
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from bench.common import Row, Sample, report
from bench.runs import LOCAL_USER, PROMPT, SERVICE
from deep_agent_service.builder import build_agent
from deep_agent_service.offline_model import OfflineChatModel
from deep_agent_service.tenancy.identity import Scope, namespace_for, resolve_identity

TURNS = (1, 10, 50, 100)
TRIALS = int(os.environ.get("BENCH_GROWTH_TRIALS", "21"))
FILES = int(os.environ.get("BENCH_GROWTH_FILES", "1000"))
ASSISTANT = "a"
BARE_NAMESPACE = ("bare", "memories")
LIST_PROMPT = 'calls [{"name": "ls", "args": {"path": "/memories/"}}]'
CHART = Path(__file__).resolve().parents[1] / "docs" / "growth.png"
TARGET = 1.10


def _config(thread: str, checkpoint: Mapping[str, Any] | None = None) -> dict[str, Any]:
    configurable = {"thread_id": thread, "assistant_id": ASSISTANT, "langgraph_auth_user": LOCAL_USER}
    if checkpoint is not None:
        configurable["checkpoint_id"] = checkpoint["configurable"]["checkpoint_id"]
    return {"configurable": configurable}


def _message(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _graphs() -> dict[str, Any]:
    service_store, bare_store = InMemoryStore(), InMemoryStore()
    bare = create_deep_agent(
        model=OfflineChatModel(),
        backend=CompositeBackend(
            default=StateBackend(), routes={"/memories/": StoreBackend(namespace=lambda _runtime: BARE_NAMESPACE)}
        ),
    )
    return {
        "service": build_agent(SERVICE).copy(update={"store": service_store, "checkpointer": InMemorySaver()}),
        "bare": bare.copy(update={"store": bare_store, "checkpointer": InMemorySaver()}),
    }


async def _timed(graph: Any, text: str, config: dict[str, Any]) -> float:
    start = time.perf_counter()
    await graph.ainvoke(_message(text), config)
    return (time.perf_counter() - start) * 1000


async def conversation(graphs: dict[str, Any]) -> dict[int, dict[str, Sample]]:
    """Per turn length, each graph's median run time (trials forked from the same checkpoint)."""
    heads: dict[str, Any] = dict.fromkeys(graphs)  # each thread's latest growth checkpoint
    for name, graph in graphs.items():  # warm-up: the first run of a graph pays one-off costs
        await graph.ainvoke(_message(PROMPT), _config(f"warm-{name}"))
    done = 0
    by_turn: dict[int, dict[str, Sample]] = {}
    for turn in TURNS:
        while done < turn - 1:  # grow both conversations to turn-1 earlier turns, interleaved
            for name, graph in graphs.items():
                await graph.ainvoke(_message(PROMPT), _config(f"grow-{name}", heads[name]))
                heads[name] = (await graph.aget_state(_config(f"grow-{name}"))).config
            done += 1
        timings: dict[str, list[float]] = {name: [] for name in graphs}
        for trial in range(TRIALS):
            for name, graph in graphs.items():
                # turn 1 has no history to fork: a fresh thread per trial
                config = _config(f"grow-{name}", heads[name]) if heads[name] else _config(f"t1-{name}-{trial}")
                timings[name].append(await _timed(graph, PROMPT, config))
        by_turn[turn] = {name: Sample.of(millis) for name, millis in timings.items()}
        # forks moved each thread's latest checkpoint; growth goes on from `heads`, not from them
    return by_turn


async def many_files(graphs: dict[str, Any]) -> dict[str, Sample]:
    """A run that lists `/memories/` holding FILES files, per graph, interleaved."""
    who = resolve_identity(LOCAL_USER, assistant_id=ASSISTANT, thread_id="files")
    namespaces = {"service": namespace_for(Scope.PRIVATE, who), "bare": BARE_NAMESPACE}
    for name, graph in graphs.items():
        for index in range(FILES):
            await graph.store.aput(namespaces[name], f"/note-{index:04d}.md", create_file_data(f"note {index}\n"))
    timings: dict[str, list[float]] = {name: [] for name in graphs}
    for trial in range(TRIALS + 1):
        for name, graph in graphs.items():
            millis = await _timed(graph, LIST_PROMPT, _config(f"files-{name}-{trial}"))
            if trial:  # the first is a warm-up
                timings[name].append(millis)
    # the listing must have seen every file, or the row would time an error
    state = await graphs["service"].aget_state(_config(f"files-service-{TRIALS}"))
    listing = str(state.values["messages"][-1].content)
    if f"note-{FILES - 1:04d}.md" not in listing:
        raise RuntimeError(f"the service's ls of /memories/ did not list the {FILES} files: {listing[:300]}")
    return {name: Sample.of(millis) for name, millis in timings.items()}


def _row(name: str, samples: Mapping[str, Sample]) -> Row:
    ours, base = samples["service"], samples["bare"]
    return Row(name, ours, base, f"ratio <= {TARGET:.2f}", ours.p50 <= TARGET * base.p50)


def write_growth_chart(by_turn: Mapping[int, Mapping[str, Sample]], path: Path) -> Path | None:
    """A PNG line chart: run time (p50) by conversation turn, service and bare deep agent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no growth chart (pip install matplotlib)")
        return None
    turns = list(by_turn)
    figure, axes = plt.subplots(figsize=(7, 4))
    for name, label in (("service", "deep-agent-service"), ("bare", "bare deep agent")):
        axes.plot(turns, [by_turn[t][name].p50 for t in turns], marker="o", label=label)
    axes.set_xlabel("conversation turn")
    axes.set_ylabel("run time p50, ms")
    axes.set_ylim(bottom=0)
    axes.set_title("Per-run time as the conversation grows (offline model, in process)")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


async def run() -> list[Row]:
    graphs = _graphs()
    by_turn = await conversation(graphs)
    rows = [_row(f"in-process run at turn {turn}", samples) for turn, samples in by_turn.items()]
    rows.append(_row(f"in-process ls of /memories/, {FILES:,} files", await many_files(graphs)))
    if chart := write_growth_chart(by_turn, CHART):
        print(f"chart: {chart}")
    return rows


def main() -> list[Row]:
    return report("growth", run)


if __name__ == "__main__":
    main()
