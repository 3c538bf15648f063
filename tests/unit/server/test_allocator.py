"""`SERVER_ALLOCATOR`: which malloc the servers we start run on (see server/allocator.py for why)."""

from __future__ import annotations

import pytest

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.server import allocator
from deep_agent_service.server.allocator import JEMALLOC, with_allocator


def test_an_unknown_choice_fails_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"SERVER_ALLOCATOR='tcmalloc' is not one of auto, jemalloc, system"):
        with_allocator({"SERVER_ALLOCATOR": "tcmalloc"})


def test_system_preloads_nothing() -> None:
    assert "LD_PRELOAD" not in with_allocator({"SERVER_ALLOCATOR": "system", "PATH": "/usr/bin"})


def test_a_preload_the_operator_set_is_kept() -> None:
    env = with_allocator({"LD_PRELOAD": "/opt/own/libmalloc.so"})
    assert env["LD_PRELOAD"] == "/opt/own/libmalloc.so"


def test_auto_and_jemalloc_preload_jemalloc_where_it_is_installed() -> None:
    if not allocator.jemalloc_available():
        pytest.skip(f"{JEMALLOC} is not installed on this machine (apt-get install libjemalloc2)")
    assert with_allocator({})["LD_PRELOAD"] == JEMALLOC
    assert with_allocator({"SERVER_ALLOCATOR": "jemalloc"})["LD_PRELOAD"] == JEMALLOC


def test_without_jemalloc_auto_falls_back_and_jemalloc_fails_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(allocator, "jemalloc_available", lambda: False)  # a machine without the library
    assert "LD_PRELOAD" not in with_allocator({"SERVER_ALLOCATOR": "auto"})
    with pytest.raises(ConfigurationError, match="apt-get install libjemalloc2"):
        with_allocator({"SERVER_ALLOCATOR": "jemalloc"})
