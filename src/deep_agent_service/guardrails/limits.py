"""Call limits: langchain's model and tool call limit middleware, with clear final messages and trip events.

Run limits count calls of one run; thread limits persist in the thread's checkpoint (so they need
the server's checkpointer) and hold across runs of the thread; a new thread starts from zero.
Model calls of `task` subagents count into the run and thread that delegated to them
(`guardrails/subagents.py`): inside a subagent the counts are the parent's, and back in the parent
the subagents' calls are folded into its counts before its next model call.
"""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from langchain.agents.middleware.model_call_limit import ModelCallLimitState
from langchain.agents.middleware.types import hook_config
from langchain_core.messages import AIMessage

from deep_agent_service.guardrails.delegation import current_delegation
from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.guardrails.subagents import SUBAGENT_MODEL_CALLS, SubagentCallsState

RUN_COUNT = "run_model_call_count"
THREAD_COUNT = "thread_model_call_count"


class ModelCallCountState(ModelCallLimitState[Any], SubagentCallsState):
    pass


def counted(state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the state as the limit should see it, the update that folds subagent calls into it)."""
    delegation = current_delegation()
    if delegation is not None:  # in a subagent: the delegating run's counts
        return {**state, RUN_COUNT: delegation.run_count, THREAD_COUNT: delegation.thread_count}, {}
    pending = int(state.get(SUBAGENT_MODEL_CALLS, 0) or 0)
    if not pending:
        return state, {}
    fold = {
        RUN_COUNT: state.get(RUN_COUNT, 0) + pending,
        THREAD_COUNT: state.get(THREAD_COUNT, 0) + pending,
        SUBAGENT_MODEL_CALLS: -pending,
    }
    return {**state, **fold, SUBAGENT_MODEL_CALLS: 0}, fold


def _limit(value: int) -> int | None:
    return value or None


class ModelCallLimit(ModelCallLimitMiddleware[Any, Any]):
    """Ends the run (not the server) with a message naming the limit and what to do next."""

    state_schema = ModelCallCountState  # type: ignore[assignment]

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        state, fold = counted(state)
        result = await super().abefore_model(state, runtime)
        if not result or result.get("jump_to") != "end":
            return {**fold, **(result or {})} or None
        result = {**fold, **result}
        run_count = state.get(RUN_COUNT, 0)
        thread_count = state.get(THREAD_COUNT, 0)
        thread_hit = self.thread_limit is not None and thread_count >= self.thread_limit
        if thread_hit:
            text = (
                f"Stopped: this conversation reached its limit of {self.thread_limit} model calls "
                "(MODEL_CALL_THREAD_LIMIT). Start a new conversation to continue."
            )
        else:
            text = (
                f"Stopped: this request reached its limit of {self.run_limit} model calls "
                "(MODEL_CALL_RUN_LIMIT) before finishing. Send a follow-up message to let me continue."
            )
        report_trip(
            runtime,
            "model_call_limit",
            "thread_limit" if thread_hit else "run_limit",
            run_count=run_count,
            run_limit=self.run_limit,
            thread_count=thread_count,
            thread_limit=self.thread_limit,
        )
        return {**result, "messages": [AIMessage(content=text)]}

    async def aafter_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        if (delegation := current_delegation()) is not None:
            delegation.count_model_call()
        return await super().aafter_model(state, runtime)


class ToolCallLimit(ToolCallLimitMiddleware[Any]):
    """Tool call limit that stops the run at once (`exit_behavior="end"`) and reports the trip."""

    @hook_config(can_jump_to=["end"])
    async def aafter_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        result = await super().aafter_model(state, runtime)
        if result and result.get("jump_to") == "end":
            key = self.tool_name or "__all__"
            report_trip(
                runtime,
                "tool_call_limit",
                "ended",
                tool=self.tool_name,
                run_count=result["run_tool_call_count"].get(key),
                run_limit=self.run_limit,
                thread_limit=self.thread_limit,
            )
        return result


def model_call_limit(run_limit: int, thread_limit: int) -> ModelCallLimit | None:
    if not run_limit and not thread_limit:
        return None
    return ModelCallLimit(run_limit=_limit(run_limit), thread_limit=_limit(thread_limit), exit_behavior="end")


def tool_call_limit(run_limit: int, thread_limit: int, tool_name: str | None = None) -> ToolCallLimit | None:
    if not run_limit and not thread_limit:
        return None
    if run_limit and thread_limit and run_limit > thread_limit:
        run_limit = thread_limit  # a run can never use more than its thread allows
    return ToolCallLimit(
        tool_name=tool_name, run_limit=_limit(run_limit), thread_limit=_limit(thread_limit), exit_behavior="end"
    )
