"""Which subagent (`task` delegation) the current code runs in, and the model calls it has made.

A `task` call runs a subagent graph inside the main agent's tool call. `SubagentDelegation`
(`guardrails/subagents.py`) opens a `Delegation` around that call; the subagent's nodes run in
contexts copied from it, so its guardrails find it here:

- the call limits count the subagent's model calls into the PARENT run's and thread's counts:
  a subagent starts from the parent's count at the moment it was called, and every model call of
  any subagent of the same model reply (parallel `task` calls) adds to one shared counter;
- trip events are tagged with the subagent's name and sent on the parent's stream, so a client
  sees them whether or not it streams subgraphs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SharedCalls:
    """Model calls made by all subagents started from one parent model reply."""

    calls: int = 0
    users: int = 0


@dataclass
class Delegation:
    name: str
    run_base: int  # the parent run's model calls when the subagent was called
    thread_base: int  # the parent thread's model calls then
    shared: SharedCalls
    writer: Callable[[Any], None] | None = None  # the parent's custom stream
    own_calls: int = field(default=0)  # this subagent's model calls (folded into the parent's state after)

    @property
    def run_count(self) -> int:
        return self.run_base + self.shared.calls

    @property
    def thread_count(self) -> int:
        return self.thread_base + self.shared.calls

    def count_model_call(self) -> None:
        self.shared.calls += 1
        self.own_calls += 1


_CURRENT: ContextVar[Delegation | None] = ContextVar("deep_agent_service_delegation", default=None)
# Parallel `task` calls of one model reply share a counter: keyed by (run id, the parent's count then).
_SHARED: dict[tuple[str | None, int], SharedCalls] = {}


def current_delegation() -> Delegation | None:
    return _CURRENT.get()


@contextmanager
def delegating(
    name: str, *, run_id: str | None, run_base: int, thread_base: int, writer: Callable[[Any], None] | None
) -> Iterator[Delegation]:
    """Run the block as subagent `name`, delegated by a parent that had made `run_base` calls."""
    key = (run_id, run_base)
    shared = _SHARED.setdefault(key, SharedCalls())
    shared.users += 1
    delegation = Delegation(name, run_base, thread_base, shared, writer)
    token = _CURRENT.set(delegation)
    try:
        yield delegation
    finally:
        _CURRENT.reset(token)
        shared.users -= 1
        if not shared.users:
            _SHARED.pop(key, None)
