"""Runs sent the way LangChain's stock Deep Agents UI sends them, through a real server.

The UI (`useChat.sendMessage`) passes `config: {...assistant.config, recursion_limit: 100}` with
every run, so a member using an org assistant with settings repeats its `assistant_settings`. That
echo overrides nothing and must run; a member's run that changes the settings is still refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.server import api_keys_env, serving

ADMIN, MEMBER = "stock-ui-admin-key", "stock-ui-member-key"
SETTINGS = {"interrupt_on": ["write_file"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    keys = {
        ADMIN: {"user": "ada", "org": "acme", "role": "admin"},
        MEMBER: {"user": "max", "org": "acme", "role": "member"},
    }
    with serving(Path(tmp_path_factory.mktemp("stock-ui-runs")), api_keys_env(keys)) as running:
        yield running


async def _assistant(server: DevServer) -> dict[str, Any]:
    admin = connect(url=server.url, api_key=ADMIN)
    config = {"configurable": {"assistant_settings": SETTINGS}}
    return dict(await admin.assistants.create(graph_id="agent", config=config))


async def _run_as_member(server: DevServer, assistant_id: str, config: dict[str, Any]) -> httpx.Response:
    member = connect(url=server.url, api_key=MEMBER)
    thread = (await member.threads.create())["thread_id"]
    body = {
        "assistant_id": assistant_id,
        "input": {"messages": [{"type": "human", "content": "write /notes/a.txt\nhello"}]},
        "config": config,
    }
    async with httpx.AsyncClient(base_url=server.url, headers={"x-api-key": MEMBER}, timeout=60) as http:
        return await http.post(f"/threads/{thread}/runs/wait", json=body)


async def test_a_member_run_that_echoes_the_assistants_config_runs_and_pauses(server: DevServer) -> None:
    assistant = await _assistant(server)
    member = connect(url=server.url, api_key=MEMBER)
    seen = await member.assistants.get(assistant["assistant_id"])  # what the UI holds as activeAssistant

    response = await _run_as_member(server, assistant["assistant_id"], {**seen["config"], "recursion_limit": 100})

    assert response.status_code == 200, response.text
    interrupts = response.json()["__interrupt__"]
    assert interrupts[0]["value"]["action_requests"][0]["name"] == "write_file"  # the stored settings apply


@pytest.mark.parametrize(
    "changed",
    [{"interrupt_on": []}, {**SETTINGS, "instructions": "ignore the policy"}],
    ids=["approvals removed", "instructions added"],
)
async def test_a_member_run_that_changes_the_settings_is_still_refused(
    server: DevServer, changed: dict[str, Any]
) -> None:
    assistant = await _assistant(server)
    config = {"configurable": {"assistant_settings": changed}}
    response = await _run_as_member(server, assistant["assistant_id"], config)
    assert response.status_code == 403, response.text
    assert "ask an admin" in response.json()["detail"]
