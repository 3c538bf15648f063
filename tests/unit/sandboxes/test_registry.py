"""The fallback directory for local sandboxes (SANDBOX_ROOT unset, checkout private to root) lives in
world-writable /var/tmp: one planted there by another user must be refused, never used."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes import registry
from deep_agent_service.sandboxes.isolation import HOST_UID_WHEN_ROOT
from deep_agent_service.settings import Settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the fallback applies to a server running as root")


@pytest.fixture
def private_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server's working directory is private to root; the fallback parent is under tmp_path."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.chdir(private)
    monkeypatch.delenv("SANDBOX_ROOT", raising=False)
    monkeypatch.setattr(registry, "FALLBACK_SANDBOX_PARENT", tmp_path / "shared")
    return tmp_path / "shared"


def test_an_unreachable_default_moves_to_a_root_owned_untraversable_listing(private_default: Path) -> None:
    root = registry.local_root(Settings())
    assert root.parent == private_default
    for directory in (private_default, root):
        info = os.lstat(directory)
        assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o711


def test_a_fallback_directory_planted_by_another_user_is_refused(private_default: Path) -> None:
    private_default.mkdir()
    os.chown(private_default, HOST_UID_WHEN_ROOT, HOST_UID_WHEN_ROOT)
    with pytest.raises(ConfigurationError, match="not a directory owned by root"):
        registry.local_root(Settings())


def test_a_planted_symlink_is_refused(private_default: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    private_default.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigurationError, match="not a directory owned by root"):
        registry.local_root(Settings())


def test_an_explicit_sandbox_root_is_kept_as_given(private_default: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_ROOT", "boxes")
    assert registry.local_root(Settings()) == Path("boxes").absolute()
