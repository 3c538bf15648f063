"""`python -m bench`: run every benchmark and print one table."""

from __future__ import annotations

import sys

from bench import factory, sandbox
from bench.common import print_table


def main() -> int:
    rows = factory.main() + sandbox.main()
    print("\n== all benchmarks ==")
    print_table(rows)
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
