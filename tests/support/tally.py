"""Counts of cross-tenant attempts and denials, reported at the end of the test run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    attempts: int = 0
    denied: int = 0
    allowed: list[str] = field(default_factory=list)


TENANT_ISOLATION = Tally()
