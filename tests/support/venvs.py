"""Throw-away virtualenvs for tests that install the project the way an image or a user does, not the
way the test venv was set up. Installs go through this machine's pip configuration (its package
mirrors, cache and constraints), as `make setup` does: about a minute for the whole dependency tree."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

INSTALL_TIMEOUT = 600  # seconds; a cold cache on a loaded 2-core machine


def create(path: Path) -> Path:
    """A new venv at `path` on this interpreter's Python (not inheriting the test venv's packages); its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True, timeout=120)
    return path / "bin" / "python"


def pip_install(python: Path, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """`pip install` into the venv of `python`; a failure shows pip's own explanation."""
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    # pip's stderr repeats a warning per mirror that lacks a package: show only the end.
    assert result.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{result.stderr[-6000:]}"


def freeze(python: Path) -> str:
    """`pip freeze` of the venv of `python`: its packages pinned, one `name==version` a line."""
    return subprocess.run(
        [str(python), "-m", "pip", "freeze", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def pins_of_this_venv(exclude: Iterable[str] = ()) -> str:
    """The test venv's packages as constraints (`name==version` lines), less `exclude` (e.g. the project)."""
    skip = {canonicalize_name(name) for name in exclude}
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name not in skip:
            pins.setdefault(name, f"{name}=={dist.version}")
    return "".join(f"{line}\n" for line in sorted(pins.values()))


def has_module(python: Path, module: str) -> bool:
    """Whether `module` imports in the venv of `python` (e.g. to show a venv is not the test venv)."""
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", probe], capture_output=True, timeout=60, check=False).returncode == 0
