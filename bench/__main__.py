"""`python -m bench`: run every benchmark, print one table, write JSON and a chart."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import factory, pii, runs, sandbox
from bench.common import print_table, write_chart, write_json

CHART = Path(__file__).resolve().parents[1] / "docs" / "bench.png"


def main() -> int:
    rows = [*factory.main(), *runs.main(), *pii.main(), *sandbox.main()]
    print("\n== all benchmarks ==")
    print_table(rows)
    print(f"results: {write_json('all', rows)}")
    if chart := write_chart(rows, CHART):
        print(f"chart: {chart}")
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
