"""The server's built-in protocol endpoints, behind the same auth as every other client. MCP (`/mcp`):
a key gets the agent's answer, no key gets nothing, and an org sees only its own assistants as tools.
A2A (`/a2a/{assistant_id}`): `message/send` gets the agent's answer with a key, nothing without."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.types import TextContent

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.server import api_keys_env, serving

KEYS = {
    "mcp-alice": {"user": "alice", "org": "acme", "role": "admin"},
    "mcp-bob": {"user": "bob", "org": "globex", "role": "member"},
}


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with serving(Path(tmp_path_factory.mktemp("protocols")), api_keys_env(KEYS)) as server:
        yield server


@asynccontextmanager
async def mcp_session(server: DevServer, api_key: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers={"x-api-key": api_key}, timeout=60) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_an_mcp_client_gets_the_agents_answer(mcp_server: DevServer) -> None:
    async with mcp_session(mcp_server, "mcp-alice") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert "agent" in tools
        assert "messages" in tools["agent"].inputSchema["properties"]
        result = await session.call_tool(
            "agent", {"messages": [{"role": "user", "content": "plan: read the brief; draft the answer"}]}
        )
    assert not result.isError
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert "read the brief" in text and "draft the answer" in text
    assert "write_todos" in text  # the run used the agent's real planning tool


async def test_mcp_without_a_key_is_refused(mcp_server: DevServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{mcp_server.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 401


async def test_mcp_tools_are_only_the_callers_orgs_assistants(mcp_server: DevServer) -> None:
    alice = connect(url=mcp_server.url, api_key="mcp-alice")
    await alice.assistants.create(graph_id="agent", name="acme-contracts")
    async with mcp_session(mcp_server, "mcp-alice") as session:
        assert "acme-contracts" in {tool.name for tool in (await session.list_tools()).tools}
    async with mcp_session(mcp_server, "mcp-bob") as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert "acme-contracts" not in names
        assert "agent" in names
        with pytest.raises(McpError, match="Unknown tool: acme-contracts"):
            await session.call_tool("acme-contracts", {"messages": [{"role": "user", "content": "hi"}]})


async def test_an_a2a_client_gets_the_agents_answer_with_a_key_only(mcp_server: DevServer) -> None:
    alice = connect(url=mcp_server.url, api_key="mcp-alice")
    assistant_id = (await alice.assistants.search(graph_id="agent", metadata={"created_by": "system"}))[0][
        "assistant_id"
    ]
    message = {
        "role": "user",
        "parts": [{"kind": "text", "text": "plan: call; confirm"}],
        "messageId": str(uuid.uuid4()),
    }
    request = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    async with httpx.AsyncClient(base_url=mcp_server.url, timeout=60) as http:
        refused = await http.post(f"/a2a/{assistant_id}", json=request)
        answered = await http.post(f"/a2a/{assistant_id}", json=request, headers={"x-api-key": "mcp-alice"})
    assert refused.status_code == 401
    assert answered.status_code == 200
    task = answered.json()["result"]
    assert task["status"]["state"] == "completed"
    agent_said = json.dumps([m["parts"] for m in task["history"] if m["role"] == "agent"])
    assert "Updated todo list" in agent_said and "confirm" in agent_said
