"""Counts of cross-tenant attempts and denials, reported at the end of the test run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    attempts: int = 0
    denied: int = 0
    allowed: list[str] = field(default_factory=list)
    # the server operations ("POST /threads") the generated suite classified and attacked
    routes: set[str] = field(default_factory=set)

    def summary(self) -> str:
        return f"tenant isolation: {len(self.routes)} routes, {self.attempts} attempts, {self.denied} denied"


TENANT_ISOLATION = Tally()
