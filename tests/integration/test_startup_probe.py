"""At start-up the server probes its sandbox provider and refuses, in one line naming the fix, when it
cannot work: bubblewrap missing from the machine (as in the stock `langchain/langgraph-api` image), or
SANDBOX_PROVIDER=langsmith without its API key. Nothing waits for a user's first run to find out."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deep_agent_service.server.devserver import ServerStartError
from tests.support.server import launch


def _refusal(tmp_path: Path, env: dict[str, str]) -> str:
    with pytest.raises(ServerStartError) as refused:
        launch(tmp_path, env=env).stop()
    return str(refused.value)


def test_a_server_without_bubblewrap_refuses_and_names_the_fixes(tmp_path: Path) -> None:
    # only the venv's tools on PATH: no /usr/bin/bwrap, as in an image built without it
    message = _refusal(tmp_path, {"PATH": str(Path(sys.executable).parent), "SANDBOX_ROOT": str(tmp_path / "boxes")})
    line = next(line for line in message.splitlines() if "bubblewrap is not installed" in line)
    assert "apt-get install bubblewrap" in line
    assert "SANDBOX_PROVIDER=langsmith" in line


def test_langsmith_sandboxes_without_an_api_key_refuse_at_start_up(tmp_path: Path) -> None:
    env = {"SANDBOX_PROVIDER": "langsmith", "LANGSMITH_API_KEY": "", "LANGCHAIN_API_KEY": ""}
    message = _refusal(tmp_path, env)
    assert "SANDBOX_PROVIDER=langsmith needs LANGSMITH_API_KEY" in message
