"""The `deep-agent` terminal client driven in a pseudo-terminal (pexpect) against a real server."""

from __future__ import annotations

import os
import sys

import pexpect
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.server.devserver import DevServer, free_port


def spawn(server_url: str, *args: str) -> pexpect.spawn:
    env = {**os.environ, "DEEP_AGENT_URL": server_url, "COLUMNS": "160", "TERM": "dumb"}
    return pexpect.spawn(sys.executable, ["-m", "deep_agent_service.cli", *args], env=env, encoding="utf-8", timeout=60)


async def test_a_conversation_with_todos_memory_and_an_approval(server: DevServer, client: LangGraphClient) -> None:
    assistant = await client.assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": {"interrupt_on": ["write_file"]}}}
    )
    chat = spawn(server.url, "chat", "--assistant", assistant["assistant_id"])
    chat.expect("you> ")
    chat.sendline("plan: draft; send")
    chat.expect(r"\[ \] draft")
    chat.expect(r"\[ \] send")
    chat.expect("you> ")

    chat.sendline(r"write /memories/cli.md\nfrom the terminal")
    chat.expect("approval needed: write_file")
    chat.expect(r"\[a/e/r\]")
    chat.sendline("a")
    chat.expect("Updated file /memories/cli.md")
    chat.expect("you> ")

    chat.sendline(r"write /memories/nope.md\nno")
    chat.expect(r"\[a/e/r\]")
    chat.sendline("r")
    chat.expect("reason")
    chat.sendline("not today")
    chat.expect("you> ")
    chat.sendline("/quit")
    chat.expect(pexpect.EOF)

    listing = spawn(server.url, "memories", "--assistant", assistant["assistant_id"], "--show")
    listing.expect("/memories/cli.md")
    listing.expect("from the terminal")
    listing.expect(pexpect.EOF)
    assert "nope.md" not in (listing.before or "")

    threads = spawn(server.url, "threads")
    threads.expect("first message")
    threads.expect(pexpect.EOF)


@pytest.mark.parametrize("command", ["threads", "chat"])
def test_a_server_that_is_down_gets_a_clear_message(command: str) -> None:
    down = spawn(f"http://127.0.0.1:{free_port()}", command)
    down.expect("cannot reach the server")
    down.expect(pexpect.EOF)
