"""Shared benchmark plumbing: repeated trials, medians and spread, one table, JSON results."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Sample:
    """Timings of one measured thing, in milliseconds."""

    p50: float
    p95: float
    spread: float  # (p95 - p5) / p50: how noisy the trial was

    @classmethod
    def of(cls, millis: list[float]) -> Sample:
        ordered = sorted(millis)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        p50 = statistics.median(ordered)
        return cls(p50=p50, p95=pct(0.95), spread=(pct(0.95) - pct(0.05)) / p50 if p50 else 0.0)


@dataclass(frozen=True)
class Row:
    name: str
    ours: Sample
    baseline: Sample | None
    target: str
    passed: bool

    @property
    def ratio(self) -> float | None:
        return self.ours.p50 / self.baseline.p50 if self.baseline and self.baseline.p50 else None


async def time_async(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    millis = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        millis.append((time.perf_counter() - start) * 1000)
    return millis


def time_sync(call: Callable[[], object], repeat: int) -> list[float]:
    millis = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        millis.append((time.perf_counter() - start) * 1000)
    return millis


def report(name: str, run: Callable[[], Coroutine[Any, Any, list[Row]]]) -> list[Row]:
    """Run one benchmark module's rows, print its table and write `results/<name>.json`."""
    rows = asyncio.run(run())
    print_table(rows)
    print(f"results: {write_json(name, rows)}")
    return rows


def print_table(rows: list[Row]) -> None:
    header = f"{'benchmark':<44} {'ours p50':>10} {'ours p95':>10} {'base p50':>10} {'ratio':>8}  {'target':<22} result"
    print(header)
    print("-" * len(header))
    for row in rows:
        base = f"{row.baseline.p50:10.3f}" if row.baseline else f"{'-':>10}"
        ratio = f"{row.ratio:8.4f}" if row.ratio is not None else f"{'-':>8}"
        print(
            f"{row.name:<44} {row.ours.p50:10.3f} {row.ours.p95:10.3f} {base} {ratio}  "
            f"{row.target:<22} {'PASS' if row.passed else 'FAIL'}"
        )
    print("(times in ms; ratio = ours p50 / baseline p50, both measured in this run)")


def write_json(name: str, rows: list[Row]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = [{**asdict(row), "ratio": row.ratio} for row in rows]
    path.write_text(json.dumps(payload, indent=2))
    return path


def write_chart(rows: list[Row], path: Path) -> Path | None:
    """A PNG bar chart, ours beside baseline (p50, log scale) for every row that has a baseline."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)")
        return None
    compared = [row for row in rows if row.baseline is not None]
    if not compared:
        return None
    figure, axes = plt.subplots(figsize=(10, 0.6 * len(compared) + 1.5))
    positions = range(len(compared))
    axes.barh([p + 0.2 for p in positions], [r.ours.p50 for r in compared], height=0.4, label="deep-agent-service")
    axes.barh(
        [p - 0.2 for p in positions],
        [r.baseline.p50 for r in compared if r.baseline],
        height=0.4,
        label="baseline",
    )
    axes.set_yticks(list(positions), [r.name for r in compared], fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("p50, ms (log scale)")
    axes.legend(loc="lower right")
    axes.set_title("deep-agent-service vs baseline, same run")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def print_comparison(rows: list[Row], previous: Path) -> None:
    """This run beside an earlier results file (e.g. from another commit), benchmark by benchmark.

    Absolute times move with the machine's load; the ratio column (ours / its same-run baseline)
    is the one to compare between runs."""
    before = {row["name"]: row for row in json.loads(previous.read_text())}
    print(f"\n== compared with {previous} ==")
    header = (
        f"{'benchmark':<44} {'p50 before':>11} {'p50 now':>10} {'change':>8} {'ratio before':>13} {'ratio now':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        old = before.get(row.name)
        if old is None:
            print(f"{row.name:<44} {'(new)':>11} {row.ours.p50:10.3f}")
            continue
        old_p50 = old["ours"]["p50"]
        change = f"{(row.ours.p50 / old_p50 - 1) * 100:+7.1f}%" if old_p50 else f"{'-':>8}"
        old_ratio = f"{old['ratio']:13.4f}" if old.get("ratio") is not None else f"{'-':>13}"
        ratio = f"{row.ratio:10.4f}" if row.ratio is not None else f"{'-':>10}"
        print(f"{row.name:<44} {old_p50:11.3f} {row.ours.p50:10.3f} {change} {old_ratio} {ratio}")
