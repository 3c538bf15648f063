"""A model call killed in flight must not hold the user's daily token budget for the rest of the day.

Each call reserves its estimated tokens (its whole prompt, about 3,000 tokens for a deep agent, plus
the reply's share) before it reaches the provider, and settles to what the provider reported after.
A server killed during the call (SIGKILL, an OOM kill, a node lost) never settles. The reservation
used to stay counted until the UTC day ended: with a 30-token budget, every later run of that
user was refused for the day although the provider never charged a token. Now a reservation lapses
after `TOKEN_BUDGET_RESERVATION_SECONDS`, on the PostgreSQL store that outlives the server.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from tests.support.chat import last_ai_text
from tests.support.fault_provider import FaultProvider, Reply
from tests.support.postgres import scratch_database
from tests.support.server import POSTGRES_STORE, launch, serving

RESERVATION_SECONDS = 4
BUDGET_ENV = {
    "MODEL": "openai:fault-model",
    "OPENAI_API_KEY": "test-key",
    "MODEL_TIMEOUT_SECONDS": "120",
    "MODEL_RETRY_MAX_RETRIES": "0",
    "TOKEN_BUDGET_USER_DAILY": "30",  # each answered call reports 15 tokens: two calls a day
    "TOKEN_BUDGET_RESERVATION_SECONDS": str(RESERVATION_SECONDS),
}
SAY = {"messages": [{"role": "user", "content": "hello"}]}


async def _budget_item(client: LangGraphClient) -> dict[str, Any] | None:
    days = await client.store.list_namespaces(prefix=["local", "budgets"])
    if not days["namespaces"]:
        return None
    item = await client.store.get_item(days["namespaces"][0], "user:local")
    return item["value"] if item else None


async def test_a_call_killed_in_flight_stops_holding_the_budget_once_its_reservation_lapses(
    provider: FaultProvider, tmp_path: Path
) -> None:
    with scratch_database("das_budget_crash") as uri:
        env = {**BUDGET_ENV, "OPENAI_BASE_URL": provider.base_url, "POSTGRES_URI": uri}
        provider.reset(default=Reply("too late", delay=60))
        server = launch(tmp_path / "first", env, overrides=POSTGRES_STORE)
        try:
            client = connect(url=server.url)
            thread = await client.threads.create()
            await client.runs.create(thread["thread_id"], "agent", input=SAY)
            deadline = time.monotonic() + 60
            while not provider.requests:  # the call is in flight: its tokens are reserved
                assert time.monotonic() < deadline, "the run never reached the provider"
                await asyncio.sleep(0.05)
            held = await _budget_item(client)
            assert held is not None, "the call in flight reserved nothing"
        finally:
            server.kill()
        killed_at = time.monotonic()

        provider.reset(default=Reply("answered after the crash", prompt_tokens=10, completion_tokens=5))
        with serving(tmp_path / "second", env, overrides=POSTGRES_STORE) as restarted:
            client = connect(url=restarted.url)
            await asyncio.sleep(max(0.0, RESERVATION_SECONDS + 0.5 - (time.monotonic() - killed_at)))
            thread = await client.threads.create()
            await client.runs.wait(thread["thread_id"], "agent", input=SAY)
            answer = last_ai_text(await client.threads.get_state(thread["thread_id"]))
            assert answer == "answered after the crash", f"the killed call still holds the budget: {answer!r}"
            after = await _budget_item(client)
            assert after is not None and after["tokens"] == 15, f"only the answered call is spent: {after}"
