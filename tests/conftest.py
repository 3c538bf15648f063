from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# In-process tests use the offline model and local identity whatever the developer's shell holds.
os.environ["MODEL"] = "offline"
os.environ["AUTH_MODE"] = "local"
os.environ.pop("FALLBACK_MODELS", None)

# In-process sandboxes live in a throw-away directory, never in the developer's working tree.
_SANDBOX_ROOT = tempfile.mkdtemp(prefix="deep-agent-sandboxes-")
os.environ["SANDBOX_ROOT"] = _SANDBOX_ROOT
atexit.register(shutil.rmtree, _SANDBOX_ROOT, True)


def pytest_terminal_summary(terminalreporter: object) -> None:
    from tests.support.tally import TENANT_ISOLATION as tally

    if tally.attempts:
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"tenant isolation: {tally.attempts} cross-tenant attempts, {tally.denied} denied"
        )
