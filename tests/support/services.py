"""Skip a test when a service it needs is missing, unless the run requires every service (CI)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from deep_agent_service.server import selfhost

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(available: bool, reason: str) -> None:
    """Skip with `reason` when unavailable; in CI (REQUIRE_SERVICES=1 or CI=true) fail instead."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing (CI requires it): {reason}", pytrace=False)
    pytest.skip(reason)


def require_aegra_venv() -> Path:
    """The Aegra venv, created when absent; a skip (a failure in CI) when it cannot be made."""
    try:
        return selfhost.ensure_aegra_venv()
    except selfhost.SelfHostError as error:
        require(False, f"the Aegra venv could not be created: {error}")
        raise
