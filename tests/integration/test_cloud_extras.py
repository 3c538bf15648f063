"""The daytona / modal / runloop extras at their pyproject floors: installed together, each requirement
pinned to its lower bound, into a venv of their own (the test venv does not have them), where the
adapters' tests (tests/unit/sandboxes/test_cloud.py: error classification, and every SDK call an adapter
makes checked against the SDK's signatures and models) all run, none skipped. No service is reached."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from deep_agent_service import PROJECT_ROOT
from tests.support import pyproject, venvs

CLOUD_EXTRAS = ("sandbox-daytona", "sandbox-modal", "sandbox-runloop")
ADAPTER_TESTS = "tests/unit/sandboxes/test_cloud.py"
TEST_RUNNER = ("pytest", "pytest-asyncio")  # at the test venv's versions


def floor_pins() -> dict[str, str]:
    """Every requirement of the cloud extras -> its floor version."""
    pins = {}
    for name in CLOUD_EXTRAS:
        for requirement in pyproject.extra(name):
            floor = pyproject.floor(requirement)
            assert floor is not None, f"{requirement} (extra {name}) has no floor: give it one in pyproject.toml"
            pins[canonicalize_name(requirement.name)] = str(floor)
    return pins


def installed(python: Path) -> dict[str, str]:
    return {
        canonicalize_name(name): version
        for name, _, version in (line.partition("==") for line in venvs.freeze(python).splitlines())
    }


def test_the_cloud_extras_at_their_floors_pass_the_adapter_tests(tmp_path: Path) -> None:
    pins = floor_pins()
    constraints = tmp_path / "floors.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    python = venvs.create(tmp_path / "venv")
    runner = [f"{name}=={metadata.version(name)}" for name in TEST_RUNNER]
    venvs.pip_install(python, "-c", str(constraints), "-e", f"{PROJECT_ROOT}[{','.join(CLOUD_EXTRAS)}]", *runner)
    versions = installed(python)
    assert {name: versions.get(name) for name in pins} == pins

    result = subprocess.run(
        [str(python), "-m", "pytest", ADAPTER_TESTS, "-p", "no:cacheprovider", "-q", "-rs"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in summary and "skipped" not in summary, result.stdout[-3000:]
