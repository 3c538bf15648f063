"""The budget counters on both stores: the in-memory one under its lock, and the real PostgreSQL store
in one SQL statement per operation. A hold counts until it lapses, settling charges what the call
used whether or not its hold has lapsed, a refused call holds nothing, and concurrent reservations
never admit more than the limit allows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from langgraph.store.memory import InMemoryStore

from deep_agent_service.guardrails.budget_counters import LockedStoreCounter, PostgresCounter, TokenCounter
from tests.support.postgres import scratch_database

NAMESPACE = ("acme", "budgets", "2026-12-04")
KEY = "user:alice"


@pytest.fixture(params=["memory", "postgres"])
async def counter(request: pytest.FixtureRequest) -> AsyncIterator[TokenCounter]:
    if request.param == "memory":
        yield LockedStoreCounter(InMemoryStore())
        return
    from langgraph.store.postgres import AsyncPostgresStore

    with scratch_database("das_counters") as uri:
        # a pool, so concurrent reservations run on concurrent connections (as on a server)
        async with AsyncPostgresStore.from_conn_string(uri, pool_config={"min_size": 4, "max_size": 20}) as store:
            await store.setup()
            yield PostgresCounter(store)


async def test_a_hold_counts_against_the_limit_until_it_lapses(counter: TokenCounter) -> None:
    assert await counter.reserve(NAMESPACE, KEY, "a", 100, 50, now=1000.0, expires=1010.0) == 100
    assert await counter.reserve(NAMESPACE, KEY, "b", 10, 50, now=1005.0, expires=1015.0) is None
    assert await counter.used(NAMESPACE, KEY, now=1005.0) == 100
    # `a`'s server died: once its hold lapses the user can spend again
    assert await counter.used(NAMESPACE, KEY, now=1010.5) == 0
    assert await counter.reserve(NAMESPACE, KEY, "c", 10, 50, now=1011.0, expires=1021.0) == 10


async def test_settling_charges_what_the_call_used_whether_or_not_its_hold_lapsed(counter: TokenCounter) -> None:
    await counter.reserve(NAMESPACE, KEY, "slow", 100, 500, now=1000.0, expires=1010.0)
    await counter.reserve(NAMESPACE, KEY, "quick", 100, 500, now=1001.0, expires=1011.0)
    await counter.settle(NAMESPACE, KEY, "quick", 7)
    assert await counter.used(NAMESPACE, KEY, now=1002.0) == 107  # the slow call still holds its estimate
    await counter.settle(NAMESPACE, KEY, "slow", 30)  # it ran past its hold: only what it used is added
    assert await counter.used(NAMESPACE, KEY, now=1020.0) == 37
    await counter.settle(NAMESPACE, KEY, "never-held", 3)  # a hold dropped with its row: still charged
    assert await counter.used(NAMESPACE, KEY, now=1020.0) == 40


async def test_a_refused_call_holds_nothing_and_lapsed_holds_are_dropped(counter: TokenCounter) -> None:
    await counter.reserve(NAMESPACE, KEY, "dead", 80, 50, now=1000.0, expires=1010.0)
    assert await counter.reserve(NAMESPACE, KEY, "refused", 5, 50, now=1001.0, expires=1011.0) is None
    await counter.reserve(NAMESPACE, KEY, "live", 5, 50, now=1011.0, expires=1021.0)
    value = await _value(counter)
    assert value["tokens"] == 0 and set(value["held"]) == {"live"}, value


async def test_concurrent_reservations_admit_no_more_than_the_limit(counter: TokenCounter) -> None:
    results = await asyncio.gather(
        *(counter.reserve(NAMESPACE, KEY, f"call-{index}", 10, 50, now=1000.0, expires=1100.0) for index in range(20))
    )
    admitted = [count for count in results if count is not None]
    assert len(admitted) == 5 and sorted(admitted) == [10, 20, 30, 40, 50]
    assert await counter.used(NAMESPACE, KEY, now=1000.0) == 50


async def _value(counter: TokenCounter) -> dict[str, object]:
    store = counter.store  # type: ignore[attr-defined]
    item = await store.aget(NAMESPACE, KEY)
    assert item is not None
    return dict(item.value)
