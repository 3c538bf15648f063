"""One agent middleware that runs several, in order: fewer graph nodes and wrapper layers per run.

`create_agent` turns every middleware hook into its own graph node (`before_agent`,
`before_model`, `after_model`, `after_agent`): each is a superstep with its own checkpoint, about
0.3 ms on a small machine even when the hook does nothing. Every `wrap_model_call` /
`wrap_tool_call` hook gets its own LangSmith `traceable` layer, which costs two thread hand-offs
per call even with tracing off. The service's own middleware (limits, retry, todo list, seed-once,
read-only guard, sandbox notices and file sync) run back to back in the stack, so `fuse` merges
them into one middleware with at most one node per hook kind and one wrapper per call kind.

Semantics are those of the separate middleware:
- `before_*` hooks run in list order, `after_*` hooks in reverse order (as `create_agent` wires
  them); each hook sees the state with the earlier hooks' updates applied (`messages` through
  `add_messages`, other keys replaced);
- a hook that returns `jump_to` stops the hooks after it, as the jump skips their nodes;
- wrap hooks are composed first = outermost with `create_agent`'s own composition, so commands
  returned by inner layers (`ExtendedModelResponse`) are kept;
- tools and state schemas are the union of the parts'.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, get_type_hints

from langchain.agents.middleware import AgentMiddleware
from langgraph.graph.message import add_messages

# Not typing.TypedDict: before 3.12 pydantic rejects it, and the server's input/output schemas (used by
# MCP and Studio) are built with pydantic from the agent's state schema.
from typing_extensions import TypedDict

from deep_agent_service.private_apis import chain_async_model_call_handlers, chain_async_tool_call_wrappers

BEFORE_HOOKS = ("before_agent", "before_model")
AFTER_HOOKS = ("after_model", "after_agent")


def _overrides(middleware: AgentMiddleware[Any, Any, Any], hook: str) -> bool:
    return getattr(type(middleware), hook) is not getattr(AgentMiddleware, hook)


def _async_only(middleware: AgentMiddleware[Any, Any, Any], hook: str) -> Callable[..., Awaitable[Any]]:
    return getattr(middleware, f"a{hook}")  # type: ignore[no-any-return]


def _can_jump_to(parts: Sequence[AgentMiddleware[Any, Any, Any]], hook: str) -> list[str]:
    targets: list[str] = []
    for part in parts:
        for name in (hook, f"a{hook}"):
            method = getattr(type(part), name)
            if method is not getattr(AgentMiddleware, name):
                targets += [t for t in getattr(method, "__can_jump_to__", []) if t not in targets]
    return targets


def _apply(view: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key == "jump_to":
            continue
        view[key] = add_messages(view.get("messages", []), value) if key == "messages" else value


def _merge(total: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key == "messages":
            total["messages"] = [*total.get("messages", []), *value]
        else:
            total[key] = value


def _state_hook(parts: Sequence[AgentMiddleware[Any, Any, Any]], hook: str) -> Callable[..., Awaitable[Any]]:
    hooks = [_async_only(part, hook) for part in parts]

    async def run(self: AgentMiddleware[Any, Any, Any], state: Any, runtime: Any) -> dict[str, Any] | None:
        view = dict(state)
        total: dict[str, Any] = {}
        for call in hooks:
            update = await call(view, runtime)
            if not update:
                continue
            _merge(total, update)
            if update.get("jump_to"):
                break
            _apply(view, update)
        return total or None

    run.__name__ = f"a{hook}"
    if targets := _can_jump_to(parts, hook):
        run.__can_jump_to__ = targets  # type: ignore[attr-defined]
    return run


def _state_schema(parts: Sequence[AgentMiddleware[Any, Any, Any]]) -> type:
    fields: dict[str, Any] = {}
    for part in parts:
        fields.update(get_type_hints(part.state_schema, include_extras=True))
    return TypedDict("FusedState", fields)  # type: ignore[operator, no-any-return]


def _calling(chain: Callable[..., Awaitable[Any]] | None) -> Callable[..., Awaitable[Any]]:
    """A wrap-hook method that runs `chain` (the parts' wrappers composed, first = outermost)."""
    assert chain is not None

    async def wrap(self: AgentMiddleware[Any, Any, Any], request: Any, handler: Any) -> Any:
        return await chain(request, handler)

    return wrap


def fuse(name: str, parts: Sequence[AgentMiddleware[Any, Any, Any]]) -> AgentMiddleware[Any, Any, Any]:
    """One middleware equivalent to `parts` (first = outermost) placed side by side in a stack."""
    for part in parts:
        for hook in (*BEFORE_HOOKS, *AFTER_HOOKS, "wrap_model_call", "wrap_tool_call"):
            if _overrides(part, hook) and not _overrides(part, f"a{hook}"):
                raise TypeError(f"{part.name}.{hook} has no async form; the service runs agents with astream")
    namespace: dict[str, Any] = {"state_schema": _state_schema(parts)}
    for hook in BEFORE_HOOKS:
        if users := [p for p in parts if _overrides(p, f"a{hook}")]:
            namespace[f"a{hook}"] = _state_hook(users, hook)
    for hook in AFTER_HOOKS:
        if users := [p for p in reversed(parts) if _overrides(p, f"a{hook}")]:
            namespace[f"a{hook}"] = _state_hook(users, hook)
    chainers: dict[str, Callable[[list[Any]], Callable[..., Awaitable[Any]] | None]] = {
        "awrap_model_call": chain_async_model_call_handlers,
        "awrap_tool_call": chain_async_tool_call_wrappers,
    }
    for hook, chain in chainers.items():
        if wrappers := [getattr(p, hook) for p in parts if _overrides(p, hook)]:
            namespace[hook] = _calling(chain(wrappers))
    cls = type(name, (AgentMiddleware,), namespace)
    fused: AgentMiddleware[Any, Any, Any] = cls()
    fused.tools = [tool for part in parts for tool in getattr(part, "tools", [])]
    fused.parts = tuple(parts)  # type: ignore[attr-defined]
    return fused
