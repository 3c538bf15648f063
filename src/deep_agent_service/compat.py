"""Work-arounds for installed-library bugs and costs, applied once on import (each names its removal
condition). The private library parts they touch are listed in `private_apis.py` with the rest.

1. deepagents 0.7.x declares `SkillMetadata` (part of the agent's input state, `skills_metadata`) as a
`typing.TypedDict`. On Python < 3.12 pydantic refuses those, so the server cannot build the agent's
input schema: `/assistants/{id}/schemas` has no input schema, and the built-in MCP endpoint (`/mcp`)
drops the agent from its tool list. The annotations in `deepagents.middleware.skills` are strings
(`from __future__ import annotations`), resolved against the module's globals when a schema is built,
so rebinding the name to an identical `typing_extensions.TypedDict` fixes every schema. Remove when
deepagents imports TypedDict from typing_extensions, or when the service requires Python 3.12.

2. langchain wraps every middleware `wrap_model_call` / `wrap_tool_call` hook in LangSmith's
`traceable`, whose async wrapper runs its set-up and tear-down in a worker thread: two thread hand-offs
per hook per call, even when tracing is off (a deep agent has a dozen such hooks, so this was ~40% of
a run's own time with the offline model; `bench/runs.py`). LangSmith's public runtime override runs
those steps inline when tracing is off for the call; with tracing on, its default is used unchanged.
Remove when langsmith skips the thread hop for untraced calls.

3. The in-memory runtime (`langgraph dev`) matches a `values` filter of `threads.search` /
`threads.count` with `is_jsonb_contained(thread["values"], filter)`, and a thread with no state yet
has `values` None: a TypeError, a 500 for the whole search. PostgreSQL's `@>` finds no match in a
NULL; the wrapper answers the same (False) for anything that is not an object. Remove when
langgraph-runtime-inmem checks the type itself.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import langsmith
import typing_extensions
from langsmith.utils import tracing_is_enabled


def _typed_dict_for_pydantic(cls: type) -> type:
    """The same TypedDict (fields, totality, docs), built with typing_extensions."""
    fields = typing.get_type_hints(cls, include_extras=True)
    clone = typing_extensions.TypedDict(cls.__name__, fields, total=cls.__total__)  # type: ignore[misc]
    clone.__module__, clone.__doc__ = cls.__module__, cls.__doc__
    return clone  # type: ignore[no-any-return]


def patch_skill_metadata() -> None:
    if sys.version_info >= (3, 12):
        return
    from deepagents.middleware import skills

    if type(skills.SkillMetadata) is not type(typing.TypedDict("Probe", {})):  # type: ignore[operator]
        return  # not a typing.TypedDict (fixed upstream, or already patched)
    skills.SkillMetadata = _typed_dict_for_pydantic(skills.SkillMetadata)  # type: ignore[assignment,misc]


def patch_inmem_values_filter() -> None:
    try:
        from langgraph_runtime_inmem import ops  # type: ignore[import-untyped]
    except ImportError:
        return  # not the in-memory runtime
    contained = ops.is_jsonb_contained
    if getattr(contained, "__wrapped__", None) is not None:
        return  # already patched

    @functools.wraps(contained)
    def objects_only(superset: Any, subset: Any) -> bool:
        return isinstance(superset, dict) and bool(contained(superset, subset))

    ops.is_jsonb_contained = objects_only


async def inline_when_untraced(
    default: Callable[..., Awaitable[Any]],
    ctx: contextvars.Context,
    func: Callable[..., Any],
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """LangSmith's `aio_to_thread`, minus the thread when nothing is traced (the steps are then cheap)."""
    if tracing_is_enabled() is False:
        return ctx.run(func, *args, **kwargs)
    return await default(ctx, func, *args, **kwargs)


patch_skill_metadata()
patch_inmem_values_filter()
langsmith.set_runtime_overrides(aio_to_thread=inline_when_untraced)
