"""Tool results filtered inside the tool, before the tool's own callbacks report them.

A tool reports its output to the run's callbacks (`on_tool_end`: what `stream_mode="events"`
streams) before any `wrap_tool_call` middleware sees the result. So `PIIGuard` hands the tool
node a copy of each tool whose class is a subclass of the tool's own class with `_arun` wrapped:
the function's raw result (text, content blocks, `(content, artifact)`, a `ToolMessage` or a
`Command` carrying messages) is filtered right where it is produced.
"""

from __future__ import annotations

import inspect
from collections import Counter
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.types import Command

from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.private_apis import runnable_config_param

if TYPE_CHECKING:  # pii.py imports this module
    from deep_agent_service.guardrails.pii import PIIFilter


def filtered_result(pii: PIIFilter, result: Any, counts: Counter[str], where: str) -> Any:
    """`result` of a tool (any of the shapes a tool may return) with every configured type replaced."""
    if isinstance(result, BaseMessage):
        return pii.message(result, counts, where)
    if isinstance(result, Command) and isinstance(result.update, dict):
        messages = result.update.get("messages")
        if not isinstance(messages, list):
            return result
        update = {**result.update, "messages": [filtered_result(pii, m, counts, where) for m in messages]}
        return Command(graph=result.graph, update=update, resume=result.resume, goto=result.goto)
    return pii.value(result, counts, where)


# Guarded tool class -> its filter (not a class attribute: pydantic would make `_x` a private field).
_FILTERS: dict[type, PIIFilter] = {}
_SUBCLASSES: dict[tuple[type, int], type] = {}


class _FilteredOutput:
    async def _arun(
        self,
        *args: Any,
        config: RunnableConfig = None,  # type: ignore[assignment]
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Any:
        # `BaseTool.arun` passes `config` / `run_manager` only to an `_arun` that declares them (by
        # annotation and name); this one does, and forwards them only to a parent that takes them.
        parent = super()._arun  # type: ignore[misc]
        if config_param := runnable_config_param(parent):
            kwargs[config_param] = config
        if "run_manager" in inspect.signature(parent).parameters:
            kwargs["run_manager"] = run_manager
        result = await parent(*args, **kwargs)
        counts: Counter[str] = Counter()
        where = f"{getattr(self, 'name', 'tool')} result"
        result = filtered_result(_FILTERS[type(self)], result, counts, where)
        if counts:
            report_trip(None, "pii", "redacted", where=where, counts=dict(counts))
        return result


def guarded_tool(tool: BaseTool, pii: PIIFilter) -> BaseTool:
    """A copy of `tool` whose results are PII-filtered before its callbacks see them."""
    if isinstance(tool, _FilteredOutput):
        return tool
    cls = type(tool)
    sub = _SUBCLASSES.get((cls, id(pii)))
    if sub is None:
        sub = _SUBCLASSES[(cls, id(pii))] = type(f"PIIFiltered{cls.__name__}", (_FilteredOutput, cls), {})
        _FILTERS[sub] = pii
    copy = tool.model_copy()
    copy.__class__ = sub
    return copy
