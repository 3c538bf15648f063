"""At start-up the server probes its sandbox provider and refuses, in one line naming the fix, when it
cannot work: bubblewrap missing from the machine (as in the stock `langchain/langgraph-api` image), or
LangSmith sandboxes (set, or the default detected on LangSmith Deployments) without an API key.
Nothing waits for a user's first run to find out."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from deep_agent_service.server.devserver import ServerStartError
from deep_agent_service.settings import LANGSMITH_DEPLOYMENT_VARIABLE
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


def test_the_provider_detected_on_langsmith_deployments_without_a_key_refuses_and_says_so(tmp_path: Path) -> None:
    env = {LANGSMITH_DEPLOYMENT_VARIABLE: str(uuid.uuid4()), "LANGSMITH_API_KEY": "", "LANGCHAIN_API_KEY": ""}
    line = next(line for line in _refusal(tmp_path, env).splitlines() if "needs LANGSMITH_API_KEY" in line)
    assert "SANDBOX_PROVIDER=langsmith (the default on LangSmith Deployments" in line
    assert f"detected from {LANGSMITH_DEPLOYMENT_VARIABLE}; set SANDBOX_PROVIDER to choose another" in line
