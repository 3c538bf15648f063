"""The memory store fails during a memory write (in process: a store wrapper that raises on demand).

The model must get a tool error it can act on, the run must not fail, the earlier version of the
file must stay, and once the store is back the same request succeeds. The same for the sandbox's
write-back of a memory file a command changed: what the command's result says (not saved) is what
the store holds at the end of the run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.base import BaseStore, Op, PutOp, Result
from langgraph.store.memory import InMemoryStore

from deep_agent_service.builder import AssistantSettings, build_agent
from deep_agent_service.tenancy.identity import RunIdentity, Scope, namespace_for
from tests.support.fault_table import FaultCase, record

ALICE = {"identity": "alice", "org": "acme", "role": "member"}


class FlakyStore(BaseStore):
    """An `InMemoryStore` that raises `ConnectionError` while `failing` is set: on every write
    (`writes`), or on every read and write of the user's private memory (`reads and writes`)."""

    def __init__(self) -> None:
        self.inner = InMemoryStore()
        self.failing: str | None = None
        self.fail_next_write_of: str | None = None  # a key: its next write fails, once

    def _fails(self, op: Op) -> bool:
        if isinstance(op, PutOp) and op.key == self.fail_next_write_of:
            self.fail_next_write_of = None
            return True
        if self.failing == "writes":
            return isinstance(op, PutOp)
        namespace = getattr(op, "namespace", None) or getattr(op, "namespace_prefix", ())
        return self.failing == "reads and writes" and tuple(namespace)[1:2] == ("private",)

    def _check(self, ops: Iterable[Op]) -> list[Op]:
        ops = list(ops)
        if any(self._fails(op) for op in ops):
            raise ConnectionError("connection to the store was reset")
        return ops

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return self.inner.batch(self._check(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self.inner.abatch(self._check(ops))


@pytest.fixture(scope="module")
def graph_and_store() -> tuple[Any, FlakyStore]:
    store = FlakyStore()
    graph = build_agent(AssistantSettings()).copy(update={"store": store, "checkpointer": InMemorySaver()})
    return graph, store


async def _say(graph: Any, text: str) -> tuple[str, list[Any]]:
    configurable = {"thread_id": uuid.uuid4().hex, "assistant_id": "asst-a", "langgraph_auth_user": ALICE}
    result = await graph.ainvoke({"messages": [{"role": "user", "content": text}]}, {"configurable": configurable})
    return str(result["messages"][-1].content), result["messages"]


def _notes(store: FlakyStore) -> str | None:
    who = RunIdentity(org="acme", user="alice", assistant_id="asst-a")
    item = store.inner.get(namespace_for(Scope.PRIVATE, who), "/notes.md")
    return None if item is None else str(item.value["content"])


@pytest.mark.parametrize("failing", ["writes", "reads and writes"])
async def test_a_store_outage_during_a_memory_write_is_a_tool_error_and_keeps_the_earlier_version(
    graph_and_store: tuple[Any, FlakyStore], failing: str
) -> None:
    graph, store = graph_and_store
    fact = f"the locker code is {uuid.uuid4().hex[:6]}"
    await _say(graph, f"remember {fact}")
    before = _notes(store)
    assert before is not None and fact in before

    store.failing = failing
    try:
        reply, messages = await _say(graph, "remember the spare key is under the mat")
    finally:
        store.failing = None
    failed_at = time.monotonic()

    tool_errors = [m for m in messages if m.type == "tool" and getattr(m, "status", None) == "error"]
    tool_texts = [str(m.content) for m in messages if m.type == "tool"]
    assert any("memory store is unavailable" in text and "Try again" in text for text in tool_texts), tool_texts
    assert "memory store is unavailable" in reply, f"the model was told and said so: {reply!r}"
    assert tool_errors or any(text.startswith("Error") for text in tool_texts)
    assert _notes(store) == before, "no partial write, the earlier version is intact"

    retry, _ = await _say(graph, "remember the spare key is under the mat")
    recovered = time.monotonic() - failed_at
    after = _notes(store)
    assert "I will remember" in retry
    assert after is not None and fact in after and "the spare key is under the mat" in after
    record(
        FaultCase(
            fault=f"store unavailable during a memory write ({failing})",
            server="in process",
            in_flight=1,
            client_saw="tool error 'memory store is unavailable ... Try again'; run succeeded",
            lost="nothing (earlier version kept; retry wrote it)",
            recovery_seconds=recovered,
        )
    )


async def test_a_sandbox_write_back_the_store_refused_is_not_saved_behind_the_models_back(
    graph_and_store: tuple[Any, FlakyStore],
) -> None:
    """The write-back after a command fails once (the store is back a moment later, before the run ends).
    The command's result told the model "NOT saved"; the run's end-of-run pass must not save it after all,
    or a retry (the model's or the user's) writes the change twice."""
    graph, store = graph_and_store
    await _say(graph, "remember the sandbox baseline")
    before = _notes(store)
    fact = f"the boat is called {uuid.uuid4().hex[:6]}"
    command = f"run echo '{fact}' >> /memories/notes.md && echo appended"

    store.fail_next_write_of = "/notes.md"
    reply, _ = await _say(graph, command)
    failed_at = time.monotonic()
    assert store.fail_next_write_of is None, "the write-back was attempted (and refused)"
    assert "NOT saved to memory" in reply and "memory store is unavailable" in reply, reply
    assert _notes(store) == before, "what the command's result said: not saved, also when the run ended"

    retry, _ = await _say(graph, command)
    recovered = time.monotonic() - failed_at
    after = _notes(store) or ""
    record(
        FaultCase(
            fault="store unavailable during a sandbox write-back",
            server="in process",
            in_flight=1,
            client_saw="the command's output + 'NOT saved to memory ... memory store is unavailable'; run succeeded",
            lost="the command's memory change, as reported (earlier version kept; retry wrote it once)",
            recovery_seconds=recovered,
        )
    )
    assert "appended" in retry and "NOT saved" not in retry, retry
    assert after.count(fact) == 1, after
