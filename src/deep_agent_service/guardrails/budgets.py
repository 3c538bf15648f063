"""Daily token budgets per user and per org, kept in the LangGraph store (shared by runs and replicas).

Usage is read from each model reply's `usage_metadata` and added to two store items in the
namespace `(org, "budgets", <UTC day>)`: key `user:<user>` and key `org`.

Reserve, then settle, each one atomic operation (`budget_counters`: SQL on PostgreSQL, a process
lock on the in-memory store): before a model call, the call's estimated tokens (its prompt,
approximately, plus `OUTPUT_RESERVE`) are held on each counter, but only while the counter is
below its limit; otherwise the call is refused BEFORE it reaches the provider and the run ends
with a message that says which budget and when it resets. After the call, the hold is replaced by
the tokens the provider reported (or dropped if the call failed).

So concurrent runs cannot all pass a nearly spent budget: a call is admitted only while the
settled tokens plus the holds of the calls in flight are below the limit. The day's spend
can exceed the limit by at most one admitted call's overshoot (what the last call admitted below
the limit used beyond it), plus what calls in flight use beyond their estimates. While calls are
in flight, others may be refused early (their holds count); the message says so.
A hold lapses `TOKEN_BUDGET_RESERVATION_SECONDS` after the call started: a call whose server died
before it settled stops counting then (it used to count until the day ended). A call still running
after that no longer holds its estimate (others may be admitted meanwhile); it is charged what it
used when it ends, as every call is. A store that fails at that moment does not fail the answered
call: its hold counts until it lapses, and its tokens are reported, not counted (`not_charged`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from deep_agent_service.errors import ServiceError
from deep_agent_service.guardrails.budget_counters import TokenCounter, counter_for
from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.tenancy.identity import RunIdentity, encode_part, identity_from_runtime

BUDGETS = "budgets"
ORG_KEY = "org"
OUTPUT_RESERVE = 256  # tokens reserved for the reply, on top of the prompt
REFUSED_BY = "refused_by"  # in the refusal's `response_metadata`: which guardrail answered instead of the model


class BudgetExhaustedError(ServiceError, ValueError):
    """A call made outside the agent's model step (a conversation summary) was refused by a budget.

    `refusal` is the reply the budget gave instead of the model, for the step to end the run with.
    A `ValueError` too, so the server shows the budget's message to the client if it gets that far.
    """

    def __init__(self, refusal: BaseMessage) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal


def refused_by_budget(message: BaseMessage) -> bool:
    """Whether `message` is a budget's refusal rather than a model's reply."""
    return message.response_metadata.get(REFUSED_BY) == "token_budget"


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def budget_namespace(identity: RunIdentity, day: str) -> tuple[str, ...]:
    return (encode_part(identity.org), BUDGETS, day)


def user_key(identity: RunIdentity) -> str:
    return f"user:{encode_part(identity.user)}"


def estimated_tokens(request: ModelRequest[Any]) -> int:
    """What a call will cost, before it is made: its prompt (approximately) plus `OUTPUT_RESERVE`."""
    messages: list[Any] = [request.system_message, *request.messages] if request.system_message else request.messages
    tools = sum(len(str(getattr(tool, "args", tool))) for tool in request.tools) // 4
    return count_tokens_approximately(messages) + tools + OUTPUT_RESERVE


def tokens_of(response: ModelResponse[Any]) -> int:
    total = 0
    for message in response.result:
        usage = getattr(message, "usage_metadata", None)
        if usage:
            total += int(usage.get("total_tokens") or usage.get("input_tokens", 0) + usage.get("output_tokens", 0))
    return total


class TokenBudget(AgentMiddleware[Any, Any, Any]):
    def __init__(self, *, user_daily: int, org_daily: int, reservation_seconds: float) -> None:
        super().__init__()
        self.user_daily = user_daily
        self.org_daily = org_daily
        self.reservation_seconds = reservation_seconds

    @property
    def name(self) -> str:
        return "TokenBudget"

    def _limits(self, identity: RunIdentity) -> list[tuple[str, str, int]]:
        """(scope, counter key, limit) for each budget that is on."""
        limits = []
        if self.user_daily:
            limits.append(("user", user_key(identity), self.user_daily))
        if self.org_daily:
            limits.append(("org", ORG_KEY, self.org_daily))
        return limits

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        store = request.runtime.store
        if store is None:
            raise RuntimeError("token budgets need the LangGraph store; run the agent on a LangGraph server")
        counter = counter_for(store)
        identity = identity_from_runtime(request.runtime)
        day = today()
        namespace = budget_namespace(identity, day)
        reserve = estimated_tokens(request)
        lease = uuid.uuid4().hex
        now = time.time()
        expires = now + self.reservation_seconds
        reserved: list[str] = []
        for scope, key, limit in self._limits(identity):
            if await counter.reserve(namespace, key, lease, reserve, limit, now=now, expires=expires) is None:
                for earlier in reserved:  # drop what this call held on the other budget
                    await counter.settle(namespace, earlier, lease, 0)
                return self._refusal(request, scope, await counter.used(namespace, key, now), limit, day)
            reserved.append(key)
        tokens = 0
        try:
            response = await handler(request)
            tokens = tokens_of(response)
        finally:  # settle: the hold becomes what the call used (nothing, if it failed)
            await self._settle(request.runtime, counter, namespace, reserved, lease=lease, tokens=tokens)
        return response

    @staticmethod
    async def _settle(
        runtime: Any, counter: TokenCounter, namespace: tuple[str, ...], keys: list[str], *, lease: str, tokens: int
    ) -> None:
        """Charge `tokens` to each counter; a store that fails here does not fail the call.

        The provider has answered (and charged) by now: failing the run would lose the answer
        without un-spending it, and a fallback model would be called on top. The hold then counts
        until it lapses, and the call's tokens are reported (the trip and the log) but not counted.
        """
        for key in keys:
            try:
                await counter.settle(namespace, key, lease, tokens)
            except Exception as error:  # whatever the store raises: psycopg, pool timeouts, OSError
                report_trip(runtime, "budget", "not_charged", counter=key, tokens=tokens, error=type(error).__name__)

    @staticmethod
    def _refusal(request: ModelRequest[Any], scope: str, used: int, limit: int, day: str) -> ModelResponse[Any]:
        report_trip(request.runtime, "budget", "exhausted", scope=scope, used=used, limit=limit, day=day)
        whose = "your" if scope == "user" else "your organization's"
        variable = "TOKEN_BUDGET_USER_DAILY" if scope == "user" else "TOKEN_BUDGET_ORG_DAILY"
        text = (
            f"Stopped: {whose} daily token budget is used up ({used}/{limit} tokens on {day} UTC, counting "
            f"calls in progress, {variable}). It resets at midnight UTC; ask an administrator to raise it sooner."
        )
        return ModelResponse(result=[AIMessage(content=text, response_metadata={REFUSED_BY: "token_budget"})])
