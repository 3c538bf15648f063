from __future__ import annotations

import os

from tests.support.sandbox_dirs import sandbox_root

# In-process tests use the offline model and local identity whatever the developer's shell holds.
os.environ["MODEL"] = "offline"
os.environ["AUTH_MODE"] = "local"
os.environ.pop("FALLBACK_MODELS", None)

# In-process sandboxes live in a throw-away directory, never in the developer's working tree.
os.environ["SANDBOX_ROOT"] = str(sandbox_root())


def pytest_terminal_summary(terminalreporter: object) -> None:
    from tests.support.fault_table import CASES
    from tests.support.tally import API_FUZZ
    from tests.support.tally import TENANT_ISOLATION as tally

    for case in CASES:
        terminalreporter.write_line(case.line())  # type: ignore[attr-defined]

    if tally.attempts:
        terminalreporter.write_line(tally.summary())  # type: ignore[attr-defined]
    if API_FUZZ.cases:
        terminalreporter.write_line(API_FUZZ.summary())  # type: ignore[attr-defined]
    _boundary_summary(terminalreporter)


def _boundary_summary(terminalreporter: object) -> None:
    from tests.support.tally import CROSS_USER, SANDBOX_ESCAPES

    write = terminalreporter.write_line  # type: ignore[attr-defined]
    if SANDBOX_ESCAPES.attempts:
        write(f"sandbox escapes: {SANDBOX_ESCAPES.attempts} attempts, {len(SANDBOX_ESCAPES.escapes)} escapes")
    if CROSS_USER.attempts:
        write(f"cross-user: {CROSS_USER.attempts} attempts, {len(CROSS_USER.leaks)} leaks")
