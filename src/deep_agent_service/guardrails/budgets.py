"""Daily token budgets per user and per org, kept in the LangGraph store (shared by runs and replicas).

Usage is read from each model reply's `usage_metadata` and added to two store items in the
namespace `(org, "budgets", <UTC day>)`: key `user:<user>` and key `org`. A model call is refused
BEFORE it reaches the provider when either is spent; the run then ends with a message that says
which budget and when it resets. Read-then-write is not atomic: concurrent runs of one user can
overshoot by at most the tokens of the calls in flight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.messages import AIMessage
from langgraph.store.base import BaseStore

from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.tenancy.identity import RunIdentity, encode_part, identity_from_runtime

BUDGETS = "budgets"
ORG_KEY = "org"


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def budget_namespace(identity: RunIdentity, day: str) -> tuple[str, ...]:
    return (encode_part(identity.org), BUDGETS, day)


def user_key(identity: RunIdentity) -> str:
    return f"user:{encode_part(identity.user)}"


async def _used(store: BaseStore, namespace: tuple[str, ...], key: str) -> int:
    item = await store.aget(namespace, key)
    return int(item.value.get("tokens", 0)) if item else 0


async def _add(store: BaseStore, namespace: tuple[str, ...], key: str, tokens: int) -> None:
    await store.aput(namespace, key, {"tokens": await _used(store, namespace, key) + tokens})


def tokens_of(response: ModelResponse[Any]) -> int:
    total = 0
    for message in response.result:
        usage = getattr(message, "usage_metadata", None)
        if usage:
            total += int(usage.get("total_tokens") or usage.get("input_tokens", 0) + usage.get("output_tokens", 0))
    return total


class TokenBudget(AgentMiddleware[Any, Any, Any]):
    def __init__(self, *, user_daily: int, org_daily: int) -> None:
        super().__init__()
        self.user_daily = user_daily
        self.org_daily = org_daily

    @property
    def name(self) -> str:
        return "TokenBudget"

    async def _refusal(self, store: BaseStore, identity: RunIdentity, day: str) -> tuple[str, int, int] | None:
        namespace = budget_namespace(identity, day)
        if self.user_daily and (used := await _used(store, namespace, user_key(identity))) >= self.user_daily:
            return "user", used, self.user_daily
        if self.org_daily and (used := await _used(store, namespace, ORG_KEY)) >= self.org_daily:
            return "org", used, self.org_daily
        return None

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        store = request.runtime.store
        if store is None:
            raise RuntimeError("token budgets need the LangGraph store; run the agent on a LangGraph server")
        identity = identity_from_runtime(request.runtime)
        day = today()
        if refused := await self._refusal(store, identity, day):
            scope, used, limit = refused
            report_trip(request.runtime, "budget", "exhausted", scope=scope, used=used, limit=limit, day=day)
            whose = "your" if scope == "user" else "your organization's"
            variable = "TOKEN_BUDGET_USER_DAILY" if scope == "user" else "TOKEN_BUDGET_ORG_DAILY"
            text = (
                f"Stopped: {whose} daily token budget is used up ({used}/{limit} tokens on {day} UTC, "
                f"{variable}). It resets at midnight UTC; ask an administrator to raise it sooner."
            )
            return ModelResponse(result=[AIMessage(content=text)])
        response = await handler(request)
        if tokens := tokens_of(response):
            namespace = budget_namespace(identity, day)
            if self.user_daily:
                await _add(store, namespace, user_key(identity), tokens)
            if self.org_daily:
                await _add(store, namespace, ORG_KEY, tokens)
        return response
