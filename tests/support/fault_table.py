"""The fault suite's results: one line per case, printed as it runs and again at the end of the session.

Set `FAULT_TABLE=<path>` to also append each case as a JSON line (the README's Reliability table
is made from such a run).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FaultCase:
    fault: str
    server: str
    in_flight: int
    client_saw: str
    lost: str
    recovery_seconds: float | None

    def line(self) -> str:
        recovery = "n/a" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f}s"
        return (
            f"[fault] {self.fault} | {self.server} | in flight {self.in_flight} | saw: {self.client_saw} | "
            f"lost: {self.lost} | recovery {recovery}"
        )


CASES: list[FaultCase] = []


def record(case: FaultCase) -> None:
    CASES.append(case)
    print("\n" + case.line())
    if path := os.environ.get("FAULT_TABLE"):
        with Path(path).open("a") as table:
            table.write(json.dumps(asdict(case)) + "\n")
