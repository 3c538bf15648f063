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


@dataclass
class EscapeTally:
    """Sandbox and memory-boundary attacks (escape suite): each attempt, and the ones that got through."""

    attempts: int = 0
    escapes: list[str] = field(default_factory=list)


@dataclass
class CrossUserTally:
    """Attempts to make one user's memory reach another user (cross-user suite)."""

    attempts: int = 0
    leaks: list[str] = field(default_factory=list)


SANDBOX_ESCAPES = EscapeTally()
CROSS_USER = CrossUserTally()


@dataclass
class FuzzTally:
    """The schemathesis pass (tests/integration/test_api_fuzz.py)."""

    cases: int = 0
    server_errors: list[str] = field(default_factory=list)  # 5xx not known to be the server's own bug
    known: list[str] = field(default_factory=list)  # the server's own bugs, listed in THREAT_MODEL.md
    unsatisfiable: list[str] = field(default_factory=list)  # operations with no case of a mode

    def summary(self) -> str:
        found = len(self.server_errors) + len(self.known)
        return f"api fuzz: {self.cases} cases, {found} 5xx ({len(self.known)} the server's own, known)"


API_FUZZ = FuzzTally()
