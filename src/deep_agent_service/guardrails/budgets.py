"""Daily token budgets per user and per org, kept in the LangGraph store (shared by runs and replicas).

Usage is read from each model reply's `usage_metadata` and added to two store items in the
namespace `(org, "budgets", <UTC day>)`: key `user:<user>` and key `org`. A model call is refused
BEFORE it reaches the provider when either is spent; the run then ends with a message that says
which budget and when it resets.

Reserve, then settle. Before a call, the budget is checked and a reservation is added in ONE
critical section per budget item: the largest call seen so far on that item (the whole remaining
budget before the first call of the day), capped at what remains. A call that finds the budget
used up, reservations included, is refused. After the call the reservation is replaced by the
tokens the reply reports (released when the call fails). So concurrent runs cannot all pass a
nearly spent budget: at most the calls whose reservations fit are made, and the overshoot is at
most what those calls use beyond their reservation. The critical section is a lock in this
process: with several server processes on one store, each process can admit one more
reservation than the budget holds (documented in the README).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Reservation:
    namespace: tuple[str, ...]
    key: str
    tokens: int


# Reservations left by a process that died mid-call stop counting after this long (a call with its
# retries ends well within it), so a crash cannot lock a user out until midnight.
STALE_RESERVATION_SECONDS = 900

# One lock per budget item, so check-and-reserve is atomic within the process.
_LOCKS: dict[tuple[tuple[str, ...], str], asyncio.Lock] = {}


def _lock(namespace: tuple[str, ...], key: str) -> asyncio.Lock:
    return _LOCKS.setdefault((namespace, key), asyncio.Lock())


async def _value(store: BaseStore, namespace: tuple[str, ...], key: str) -> dict[str, int]:
    item = await store.aget(namespace, key)
    value = item.value if item else {}
    current = {name: int(value.get(name, 0)) for name in ("tokens", "reserved", "largest_call", "reserved_until")}
    if current["reserved_until"] < time.time():
        current["reserved"] = 0
    return current


async def used_tokens(store: BaseStore, namespace: tuple[str, ...], key: str) -> int:
    value = await _value(store, namespace, key)
    return value["tokens"] + value["reserved"]


async def reserve(store: BaseStore, namespace: tuple[str, ...], key: str, limit: int) -> Reservation | int:
    """Reserve tokens for one call, or return the tokens used when the budget has none left."""
    async with _lock(namespace, key):
        value = await _value(store, namespace, key)
        used = value["tokens"] + value["reserved"]
        if used >= limit:
            return used
        tokens = min(value["largest_call"] or limit, limit - used)
        until = int(time.time()) + STALE_RESERVATION_SECONDS
        await store.aput(namespace, key, {**value, "reserved": value["reserved"] + tokens, "reserved_until": until})
        return Reservation(namespace, key, tokens)


async def settle(store: BaseStore, reservation: Reservation, spent: int) -> None:
    """Replace the reservation by the tokens the call really used (0: released)."""
    async with _lock(reservation.namespace, reservation.key):
        value = await _value(store, reservation.namespace, reservation.key)
        await store.aput(
            reservation.namespace,
            reservation.key,
            {
                "tokens": value["tokens"] + spent,
                "reserved": max(0, value["reserved"] - reservation.tokens),
                "largest_call": max(value["largest_call"], spent),
                "reserved_until": value["reserved_until"],
            },
        )


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

    def _limits(self, identity: RunIdentity) -> list[tuple[str, str, int]]:
        return [
            (scope, key, limit)
            for scope, key, limit in (("user", user_key(identity), self.user_daily), ("org", ORG_KEY, self.org_daily))
            if limit
        ]

    async def _reserve(
        self, store: BaseStore, identity: RunIdentity, day: str
    ) -> list[Reservation] | tuple[str, int, int]:
        """Reservations on every budget, or (scope, used, limit) of the first one that is spent."""
        namespace = budget_namespace(identity, day)
        held: list[Reservation] = []
        for scope, key, limit in self._limits(identity):
            reserved = await reserve(store, namespace, key, limit)
            if isinstance(reserved, int):
                for reservation in held:
                    await settle(store, reservation, 0)
                return scope, reserved, limit
            held.append(reserved)
        return held

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
        reservations = await self._reserve(store, identity, day)
        if isinstance(reservations, tuple):
            scope, used, limit = reservations
            report_trip(request.runtime, "budget", "exhausted", scope=scope, used=used, limit=limit, day=day)
            whose = "your" if scope == "user" else "your organization's"
            variable = "TOKEN_BUDGET_USER_DAILY" if scope == "user" else "TOKEN_BUDGET_ORG_DAILY"
            text = (
                f"Stopped: {whose} daily token budget is used up ({used}/{limit} tokens on {day} UTC, "
                f"{variable}). It resets at midnight UTC; ask an administrator to raise it sooner."
            )
            return ModelResponse(result=[AIMessage(content=text)])
        spent = 0
        try:
            response = await handler(request)
            spent = tokens_of(response)
        finally:
            for reservation in reservations:
                await settle(store, reservation, spent)
        return response
