"""The servers we start run on the malloc `SERVER_ALLOCATOR` chooses: what is mapped into the process,
not what its environment says (see server/allocator.py for why jemalloc by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deep_agent_service.server import allocator
from deep_agent_service.server.devserver import DevServer
from tests.support.server import serving


def _runs_on_jemalloc(server: DevServer) -> bool:
    return "libjemalloc" in Path(f"/proc/{server.process.pid}/maps").read_text()


@pytest.fixture
def needs_jemalloc() -> None:
    if not allocator.jemalloc_available():
        pytest.skip(f"{allocator.JEMALLOC} is not installed on this machine (apt-get install libjemalloc2)")


@pytest.mark.usefixtures("needs_jemalloc")
def test_a_server_runs_on_jemalloc_by_default(server: DevServer) -> None:
    assert _runs_on_jemalloc(server)


@pytest.mark.usefixtures("needs_jemalloc")
def test_system_keeps_the_c_librarys_malloc(tmp_path: Path) -> None:
    with serving(tmp_path, env={"SERVER_ALLOCATOR": "system"}) as with_system:
        assert not _runs_on_jemalloc(with_system)
