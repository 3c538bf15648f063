"""One agent middleware that runs several, in order: fewer graph nodes and wrapper layers per run.

`create_agent` turns every middleware hook into its own graph node (`before_agent`,
`before_model`, `after_model`, `after_agent`): each is a superstep with its own checkpoint, about
0.3 ms on a small machine even when the hook does nothing, and a longer checkpoint chain for every
later run of the thread to walk. Every `wrap_model_call` / `wrap_tool_call` hook gets its own
LangSmith `traceable` layer, which costs two thread hand-offs per call even with tracing off. The
service's own middleware (limits, retry, todo list, seed-once, read-only guard, sandbox notices and
file sync) run back to back in the stack, so `fuse` merges them into one middleware with one node
for `before_agent`, one for `after_agent`, and one wrapper per call kind. The parts' `before_model`
and `after_model` hooks run inside that model-call wrapper (the `model` node), not as nodes of
their own: a model call adds no superstep to the bare agent's.

Semantics are those of the separate middleware:
- `before_*` hooks run in list order, `after_*` hooks in reverse order (as `create_agent` wires
  them); each hook sees the state with the earlier hooks' updates applied (`messages` through
  `add_messages`, other keys replaced); an `after_model` hook sees the model's reply appended;
- a hook that returns `jump_to` stops the hooks after it, as the jump skips their nodes; a
  `before_model` jump to `end` skips the model call too, and its messages are the model node's
  output; updates of the model hooks reach the state as the model node's `Command`, through the
  graph's reducers, after the reply;
- wrap hooks are composed first = outermost with `create_agent`'s own composition, so commands
  returned by inner layers (`ExtendedModelResponse`) are kept;
- tools and state schemas are the union of the parts'.

One order differs from separate nodes: middleware placed after this one in the stack (deepagents'
human-in-the-loop approval) has its `after_model` node run after ours, not before, so limits count
a tool call before a person is asked to approve it, and a call over its limit is never put to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, get_type_hints

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ExtendedModelResponse, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage
from langgraph.graph.message import add_messages
from langgraph.types import Command

# Not typing.TypedDict: before 3.12 pydantic rejects it, and the server's input/output schemas (used by
# MCP and Studio) are built with pydantic from the agent's state schema.
from typing_extensions import TypedDict

from deep_agent_service.private_apis import chain_async_model_call_handlers, chain_async_tool_call_wrappers

BEFORE_HOOKS = ("before_agent", "before_model")
AFTER_HOOKS = ("after_model", "after_agent")
NODE_HOOKS = ("before_agent", "after_agent")  # the model hooks run inside the model call


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


async def _run_hooks(
    hooks: Sequence[Callable[..., Awaitable[Any]]], view: dict[str, Any], runtime: Any
) -> dict[str, Any]:
    """Run `hooks` in order on `view` (updated in place); their merged update, up to a jump."""
    total: dict[str, Any] = {}
    for call in hooks:
        update = await call(view, runtime)
        if not update:
            continue
        _merge(total, update)
        if update.get("jump_to"):
            break
        _apply(view, update)
    return total


def _hooks(parts: Sequence[AgentMiddleware[Any, Any, Any]], hook: str) -> list[Callable[..., Awaitable[Any]]]:
    ordered = parts if hook in BEFORE_HOOKS else list(reversed(parts))
    return [_async_only(part, hook) for part in ordered if _overrides(part, f"a{hook}")]


def _state_hook(parts: Sequence[AgentMiddleware[Any, Any, Any]], hook: str) -> Callable[..., Awaitable[Any]]:
    hooks = _hooks(parts, hook)

    async def run(self: AgentMiddleware[Any, Any, Any], state: Any, runtime: Any) -> dict[str, Any] | None:
        return await _run_hooks(hooks, dict(state), runtime) or None

    run.__name__ = f"a{hook}"
    if targets := _can_jump_to(parts, hook):
        run.__can_jump_to__ = targets  # type: ignore[attr-defined]
    return run


def _model_hooks(parts: Sequence[AgentMiddleware[Any, Any, Any]]) -> Callable[..., Awaitable[Any]] | None:
    """A model-call wrapper (the outermost of the fused ones) that runs the parts' `before_model`
    hooks, the call, then their `after_model` hooks, and returns the hooks' updates as a `Command`."""
    before, after = _hooks(parts, "before_model"), _hooks(parts, "after_model")
    if not before and not after:
        return None
    for hook in ("before_model", "after_model"):
        if unsupported := [t for t in _can_jump_to(parts, hook) if t != "end"]:
            raise TypeError(
                f"a fused {hook} hook can only jump to 'end' (it runs in the model call), not {unsupported}"
            )

    async def wrap(request: ModelRequest[Any], handler: Callable[..., Awaitable[Any]]) -> Any:
        view: dict[str, Any] = dict(request.state)
        update = await _run_hooks(before, view, request.runtime)
        added = update.pop("messages", [])
        if update.get("jump_to"):  # the model is not called: the hooks' messages are the node's output
            return ExtendedModelResponse(model_response=ModelResponse(result=added), command=Command(update=update))
        if added:  # state gets them before the reply, as a before_model node would have written them
            request = request.override(messages=add_messages(list[Any](request.messages), added))  # type: ignore[arg-type]
        answer = await handler(request)
        response: ModelResponse[Any] = (  # a bare handler may answer with the message alone
            ModelResponse(result=[answer]) if isinstance(answer, AIMessage) else answer
        )
        view["messages"] = [*view.get("messages", []), *response.result]
        _merge(update, await _run_hooks(after, view, request.runtime))
        response = ModelResponse(result=[*added, *response.result], structured_response=response.structured_response)
        return ExtendedModelResponse(model_response=response, command=Command(update=update)) if update else response

    return wrap


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


def model_call_wrappers(parts: Sequence[AgentMiddleware[Any, Any, Any]]) -> list[Callable[..., Awaitable[Any]]]:
    """The `awrap_model_call` hooks of `parts` (first = outermost), for `chain_async_model_call_handlers`."""
    return [p.awrap_model_call for p in parts if _overrides(p, "awrap_model_call")]


def fuse(name: str, parts: Sequence[AgentMiddleware[Any, Any, Any]]) -> AgentMiddleware[Any, Any, Any]:
    """One middleware equivalent to `parts` (first = outermost) placed side by side in a stack."""
    for part in parts:
        for hook in (*BEFORE_HOOKS, *AFTER_HOOKS, "wrap_model_call", "wrap_tool_call"):
            if _overrides(part, hook) and not _overrides(part, f"a{hook}"):
                raise TypeError(f"{part.name}.{hook} has no async form; the service runs agents with astream")
    namespace: dict[str, Any] = {"state_schema": _state_schema(parts)}
    for hook in NODE_HOOKS:
        if _hooks(parts, hook):
            namespace[f"a{hook}"] = _state_hook(parts, hook)
    model_hooks = _model_hooks(parts)
    model_wrappers = model_call_wrappers(parts)
    if model_wrappers or model_hooks:
        layers = [model_hooks, *model_wrappers] if model_hooks else model_wrappers
        namespace["awrap_model_call"] = _calling(chain_async_model_call_handlers(layers))
    if tool_wrappers := [p.awrap_tool_call for p in parts if _overrides(p, "awrap_tool_call")]:
        namespace["awrap_tool_call"] = _calling(chain_async_tool_call_wrappers(tool_wrappers))
    cls = type(name, (AgentMiddleware,), namespace)
    fused: AgentMiddleware[Any, Any, Any] = cls()
    fused.tools = [tool for part in parts for tool in getattr(part, "tools", [])]
    fused.parts = tuple(parts)  # type: ignore[attr-defined]
    return fused
