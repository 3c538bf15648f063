"""The lower bounds in pyproject.toml are true: none is below what an installed dependency of ours
itself requires (langsmith>=0.4 was, under langgraph-api's langsmith>=0.6.3). The floors are the
versions the suite was run with (there is no lowest-versions job): raise them when you upgrade."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support import pyproject

# Extras whose packages the test venv installs (make setup); the daytona / modal / runloop extras are
# checked at their floors in a venv of their own (tests/integration/test_cloud_extras.py).
TESTED_EXTRAS = ("dev", "openai", "anthropic", "postgres")


def _ours() -> list[Requirement]:
    extras = [requirement for name in TESTED_EXTRAS for requirement in pyproject.extra(name)]
    return [Requirement(raw) for raw in pyproject.project()["dependencies"]] + extras


def _active(required: Requirement, extras: set[str]) -> bool:
    """Whether an installed package's requirement applies here (not one of an extra nobody asked for)."""
    marker = required.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in extras)


def _floors_required_by_installed(name: str) -> list[tuple[str, Version]]:
    extras = {"", *(extra for requirement in _ours() for extra in requirement.extras)}
    found = []
    for dist in metadata.distributions():
        for raw in dist.requires or []:
            required = Requirement(raw)
            if canonicalize_name(required.name) != name or not _active(required, extras):
                continue
            if theirs := pyproject.floor(required):
                found.append((dist.metadata["Name"], theirs))
    return found


def test_no_floor_is_below_what_an_installed_dependency_requires() -> None:
    too_low = []
    for requirement in _ours():
        ours = pyproject.floor(requirement)
        for who, theirs in _floors_required_by_installed(canonicalize_name(requirement.name)):
            if ours is None or ours < theirs:
                too_low.append(f"{requirement} (ours) < {requirement.name}>={theirs} ({who})")
    assert not too_low, too_low
