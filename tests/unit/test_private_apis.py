"""Every private library part we lean on (private_apis.py) still has the shape it was checked with.

A failure here means a library upgrade changed something the service depends on without a public
contract: the message names the entry, the version it was checked against and the code that uses
it. Re-read that part of the library, adapt the user, then update the entry.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import inspect
import pathlib
from typing import Any

import pytest

from deep_agent_service.private_apis import PRIVATE_APIS, PrivateAPI, apply_strategy, calculate_delay, passes_luhn
from deep_agent_service.server.selfhost import AEGRA_VENV


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in filter(None, qualname.split(".")):
        found = getattr(found, part)
    return found


def _aegra_site_packages() -> pathlib.Path | None:
    """Aegra lives in a venv of its own (Python >= 3.12): its entries are read from there."""
    found = sorted(AEGRA_VENV.glob("lib/python3.*/site-packages"))
    return found[-1] if found else None


def _source_of(module_name: str) -> str:
    """The module's source, found without executing it (some need a running server to import)."""
    site = _aegra_site_packages() if module_name.split(".", maxsplit=1)[0] == "aegra_api" else None
    if site is not None:
        path = site.joinpath(*module_name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        assert path.exists(), f"module {module_name} is gone from {site}"
        return path.read_text()
    spec = importlib.util.find_spec(module_name)
    assert spec is not None and spec.origin, f"module {module_name} is gone"
    return pathlib.Path(spec.origin).read_text()


def _installed_version(library: str) -> str:
    if library == "aegra-api" and (site := _aegra_site_packages()) is not None:
        return next(importlib.metadata.distributions(name=library, path=[str(site)])).version
    return importlib.metadata.version(library)


def _describe(entry: PrivateAPI) -> str:
    installed = _installed_version(entry.library)
    return (
        f"{entry.target} ({entry.library}: checked against {entry.checked_against}, installed {installed}); "
        f"used by {entry.used_by}"
    )


@pytest.mark.parametrize("entry", PRIVATE_APIS, ids=lambda entry: entry.target)
def test_each_private_part_still_has_its_checked_shape(entry: PrivateAPI) -> None:
    if entry.library == "aegra-api" and _aegra_site_packages() is None:
        pytest.skip(f"no Aegra venv at {AEGRA_VENV} (make aegra-venv)")
    if entry.source_contains:
        source = _source_of(entry.target.partition(":")[0])
        ast.parse(source)
        missing = [text for text in entry.source_contains if text not in source]
        assert not missing, f"{_describe(entry)}: its source no longer contains {missing}"
        return
    try:
        part = _resolve(entry.target)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{_describe(entry)}: it is gone ({error})")
    if entry.signature is not None:
        assert str(inspect.signature(part)) == entry.signature, f"{_describe(entry)}: its signature changed"


def test_the_private_helpers_still_behave_as_the_service_expects() -> None:
    """The shapes above could hold while the meaning changed; these are the meanings we rely on."""
    assert passes_luhn("4111111111111111") and not passes_luhn("4111111111111112")
    match = {"type": "email", "value": "bob@example.com", "start": 5, "end": 20}
    assert apply_strategy("mail bob@example.com now", [match], "redact") == "mail [REDACTED_EMAIL] now"  # type: ignore[list-item]
    delays = [calculate_delay(n, backoff_factor=2.0, initial_delay=1.0, max_delay=5.0, jitter=False) for n in range(4)]
    assert delays == [1.0, 2.0, 4.0, 5.0]


def test_no_module_of_the_service_imports_a_private_name_except_through_private_apis() -> None:
    """So PRIVATE_APIS stays complete: a new private import elsewhere fails here."""
    package = pathlib.Path(importlib.import_module("deep_agent_service").__file__ or "").parent
    offenders: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "private_apis.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and not node.module.startswith(("deep_agent_service", "__future__"))
            ):
                private_module = any(part.startswith("_") for part in node.module.split("."))
                private_names = [alias.name for alias in node.names if alias.name.startswith("_")]
                if private_module or private_names:
                    offenders.append(f"{path.relative_to(package)}: from {node.module} import {private_names or '...'}")
    assert not offenders, f"import these through private_apis.py (and list them there): {offenders}"
