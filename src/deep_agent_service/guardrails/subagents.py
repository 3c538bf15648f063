"""Subagents (`task`) under the same guardrails as the main agent, counted into the delegating run.

deepagents builds each subagent with its own middleware stack (the general-purpose one inherits
nothing of the main agent's custom middleware), so the builder gives every subagent spec the
guardrail middleware explicitly (`subagent_specs`), and the main agent gets `SubagentDelegation`,
which wraps each `task` call:

- model-call limits: the subagent's calls count into the parent run's and the parent thread's
  limits (MODEL_CALL_RUN_LIMIT / MODEL_CALL_THREAD_LIMIT). While it runs, the subagent's limit
  check sees the parent's count plus every call of the subagents started from the same model
  reply; when the `task` call returns, its calls are added to the parent's state
  (`subagent_model_calls`, summed over parallel `task` calls) and folded into the parent's counts
  before its next model call. A looping subagent stops when the RUN's budget of calls is spent, and
  then the parent stops too.
- tool-call limits count per delegation: a subagent may make as many tool calls as a run may.
- PII, retry, fallback and budgets are the same middleware; trip events carry `subagent: <name>`.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, NotRequired

from deepagents.middleware.subagents import GENERAL_PURPOSE_SUBAGENT, SubAgent
from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import ToolMessage
from langgraph.types import Command

from deep_agent_service.guardrails.delegation import current_delegation, delegating
from deep_agent_service.runs import run_id

SUBAGENT_MODEL_CALLS = "subagent_model_calls"
TASK_TOOL = "task"


class SubagentCallsState(AgentState[Any]):
    # Summed (parallel `task` calls each add theirs); the limit folds it into its counts and writes -n.
    subagent_model_calls: NotRequired[Annotated[int, PrivateStateAttr, operator.add]]


def _with_calls(result: ToolMessage | Command[Any], calls: int) -> ToolMessage | Command[Any]:
    if isinstance(result, ToolMessage):
        return Command(update={"messages": [result], SUBAGENT_MODEL_CALLS: calls})
    if isinstance(result.update, dict):
        return Command(
            graph=result.graph,
            update={**result.update, SUBAGENT_MODEL_CALLS: calls},
            resume=result.resume,
            goto=result.goto,
        )
    return result


class SubagentDelegation(AgentMiddleware[Any, Any, Any]):
    """Opens a `Delegation` around every `task` call of the main agent (see the module docstring)."""

    state_schema = SubagentCallsState

    @property
    def name(self) -> str:
        return "SubagentDelegation"

    async def awrap_tool_call(
        self, request: Any, handler: Callable[[Any], Awaitable[ToolMessage | Command[Any]]]
    ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        if call["name"] != TASK_TOOL or current_delegation() is not None:
            return await handler(request)
        state = request.state or {}
        pending = int(state.get(SUBAGENT_MODEL_CALLS, 0) or 0)
        with delegating(
            str((call.get("args") or {}).get("subagent_type", "")),
            run_id=run_id(runtime=request.runtime),
            run_base=int(state.get("run_model_call_count", 0)) + pending,
            thread_base=int(state.get("thread_model_call_count", 0)) + pending,
            writer=getattr(request.runtime, "stream_writer", None),
        ) as delegation:
            result = await handler(request)
        return _with_calls(result, delegation.own_calls) if delegation.own_calls else result


def subagent_specs(
    middleware: Sequence[AgentMiddleware[Any, Any, Any]],
    *,
    skills: list[str] | None,
    configured: Sequence[SubAgent] = (),
) -> list[SubAgent]:
    """The general-purpose subagent (as deepagents would add it) and `configured`, all with `middleware`."""
    specs: list[SubAgent] = [{**spec, "middleware": [*middleware, *spec.get("middleware", [])]} for spec in configured]
    if not any(spec["name"] == GENERAL_PURPOSE_SUBAGENT["name"] for spec in specs):
        general: SubAgent = {**GENERAL_PURPOSE_SUBAGENT, "middleware": list(middleware)}
        if skills is not None:
            general["skills"] = skills
        specs.insert(0, general)
    return specs
