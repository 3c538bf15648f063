"""This project's pyproject.toml as tests read it: its requirements and their floors."""

from __future__ import annotations

import tomllib
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from deep_agent_service import PROJECT_ROOT


def project() -> dict[str, Any]:
    """The `[project]` table."""
    table: dict[str, Any] = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return table


def extra(name: str) -> list[Requirement]:
    """The requirements of one optional extra."""
    return [Requirement(raw) for raw in project()["optional-dependencies"][name]]


def floor(requirement: Requirement) -> Version | None:
    """The lowest version a requirement allows (its >=, == or ~= bound), None when unbounded below."""
    floors = [Version(s.version.removesuffix(".*")) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None
