"""`python -m bench`: run every benchmark, print one table, write JSON and a chart.

`python -m bench --compare docs/bench-results.json` also prints this run beside an earlier one
(for example the committed run, or `bench/results/all.json` saved from another commit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import aegra_scale, factory, growth, pii, runs, sandbox
from bench.common import print_comparison, print_table, write_chart, write_json

CHART = Path(__file__).resolve().parents[1] / "docs" / "bench.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="an earlier results JSON to print this run beside")
    args = parser.parse_args(argv)
    if args.compare and not args.compare.is_file():
        parser.error(f"--compare {args.compare}: no such file")
    rows = [*factory.main(), *runs.main(), *growth.main(), *pii.main(), *sandbox.main(), *aegra_scale.main()]
    print("\n== all benchmarks ==")
    print_table(rows)
    print(f"results: {write_json('all', rows)}")
    if chart := write_chart(rows, CHART):
        print(f"chart: {chart}")
    if args.compare:
        print_comparison(rows, args.compare)
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
