"""A freshly started server's first run is not slow to load: the default assistant's agent is compiled
at start-up, so the server never logs its "Slow graph load" warning (the factory crossed 100 ms)."""

from __future__ import annotations

from pathlib import Path

from deep_agent_service.client import connect
from tests.support.chat import ask
from tests.support.server import serving


async def test_the_first_run_and_state_read_of_a_fresh_server_load_the_graph_fast(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        client = connect(url=server.url)
        thread = await client.threads.create()
        assert "hello" in await ask(client, "run echo hello", thread_id=thread["thread_id"])
        assert (await client.threads.get_state(thread["thread_id"]))["values"]["messages"]
        log = (tmp_path / "server.log").read_text(errors="replace")
    assert '"event": "run_start"' in log  # this is the log of the server that served the run
    assert "Slow graph load" not in log, [line for line in log.splitlines() if "Slow graph load" in line]
