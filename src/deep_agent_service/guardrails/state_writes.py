"""PII filtering of state that clients write directly, before the checkpointer stores it.

Memory files are filtered where the store wrapper writes them (`memory_filter`, installed into
`memory.store` by the builder), so tool writes and sandbox write-back get the same rules.

Besides a run's input, a client can write a thread's state three ways: `POST /threads/{id}/state`
(`threads.update_state`, also with a `checkpoint` to fork from), a run's `command` (`update`, and
`resume` values of an interrupt), and `runs.create` on a `checkpoint`. The run paths pass through
the `threads.create_run` auth handler, which calls `filter_run_payload`; the state update reaches
only the graph (its auth event carries no values), so the compiled agent's class is swapped for a
subclass whose bulk state updates filter every string in the values first (`guard_state_updates`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import StateUpdate

from deep_agent_service.guardrails.config import resolve_config
from deep_agent_service.guardrails.pii import PIIFilter
from deep_agent_service.settings import get_settings

G = TypeVar("G", bound=Pregel)  # type: ignore[type-arg]


def memory_filter() -> Callable[[str], str] | None:
    """What every memory file passes through before the store keeps it: the deployment's PII rules.

    Memory files are shared by the assistants of an organization, so the deployment-wide rules
    apply (an assistant's stricter rules also filter its own file-tool arguments in the graph).
    """
    pii = PIIFilter(resolve_config(get_settings()).pii)
    if not pii.rules:
        return None
    return lambda content: pii.text(content, Counter(), "memory file")


def filter_run_payload(pii: PIIFilter, payload: dict[str, Any]) -> None:
    """Filter a run's `input` and `command` (`update`, `resume`) in place; raises `PIIBlockedError`."""
    if not pii.rules:
        return
    counts: Counter[str] = Counter()
    if payload.get("input"):
        payload["input"] = pii.value(payload["input"], counts, "user message")
    command = payload.get("command")
    if isinstance(command, dict):
        for key in ("update", "resume"):
            if command.get(key) is not None:
                command[key] = pii.value(command[key], counts, f"command {key}")


def _filtered(pii: PIIFilter, supersteps: Sequence[Sequence[StateUpdate]]) -> list[list[StateUpdate]]:
    counts: Counter[str] = Counter()
    return [
        [
            update._replace(values=pii.value(update.values, counts, "state update"))
            if update.values is not None
            else update
            for update in superstep
        ]
        for superstep in supersteps
    ]


def guard_state_updates(graph: G, pii: PIIFilter) -> G:
    """`graph`, its class swapped for a subclass whose state updates are PII-filtered (copies keep it).

    The overrides are defined on the subclass itself: with a mixin base first, CPython refuses the
    `__class__` assignment (the layouts differ).
    """
    cls = type(graph)

    async def abulk_update_state(
        self: Any, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> RunnableConfig:
        return await cls.abulk_update_state(self, config, _filtered(pii, supersteps))  # type: ignore[no-any-return]

    def bulk_update_state(
        self: Any, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> RunnableConfig:
        return cls.bulk_update_state(self, config, _filtered(pii, supersteps))  # type: ignore[no-any-return]

    graph.__class__ = type(
        f"PIIFiltered{cls.__name__}",
        (cls,),
        {"__module__": __name__, "abulk_update_state": abulk_update_state, "bulk_update_state": bulk_update_state},
    )
    return graph
