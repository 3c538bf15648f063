"""Atomic token counters for the budgets: reserve-if-below-limit and settle, as one operation each.

A counter is an ordinary store item, readable with the store API:
`{"tokens": <settled>, "held": {<lease>: [<tokens>, <expires at, epoch seconds>]}}`. `tokens` is
what providers reported; `held` are the reservations of calls in flight. What counts against the
limit is `tokens` plus the holds that have not lapsed: a call whose server died before it settled
(SIGKILL, an OOM kill) stops counting once its hold lapses, instead of for the rest of the day.

Two implementations, chosen by the store the run has:

- PostgreSQL (`AsyncPostgresStore`, the self-hosted and LangSmith-style deployments): one
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE <below limit> RETURNING` statement on the store's own
  `store` table per operation, so every replica and every run sees one consistent counter;
- any other store (the in-memory store of `langgraph dev`): read and write under an `asyncio.Lock`
  of the process. This is atomic only within ONE process (and its event loop), which is what
  `langgraph dev` is; several replicas need the PostgreSQL store.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from langgraph.store.base import BaseStore

_LOCKS: dict[int, asyncio.Lock] = {}  # one per event loop

# The holds of `store.value` still live at %(now)s: as an object, and their sum.
_LIVE = (
    "FROM jsonb_each(COALESCE(store.value->'held', '{}'::jsonb)) hold WHERE (hold.value->>1)::float8 > %(now)s::float8"
)
_LIVE_HOLDS = f"(SELECT jsonb_object_agg(hold.key, hold.value) {_LIVE})"
_HELD = f"(SELECT COALESCE(sum((hold.value->>0)::bigint), 0) {_LIVE})"
_SETTLED = "COALESCE((store.value->>'tokens')::bigint, 0)"
_NEW_HOLD = "jsonb_build_object(%(lease)s::text, jsonb_build_array(%(tokens)s::bigint, %(expires)s::float8))"
# Lapsed holds are dropped whenever a call is admitted, so `held` stays as small as the calls in flight.
_RESERVE_SQL = f"""
INSERT INTO store (prefix, key, value)
VALUES (%(prefix)s, %(key)s, jsonb_build_object('tokens', 0, 'held', {_NEW_HOLD}))
ON CONFLICT (prefix, key) DO UPDATE
SET value = jsonb_build_object('tokens', {_SETTLED}, 'held', COALESCE({_LIVE_HOLDS}, '{{}}'::jsonb) || {_NEW_HOLD}),
    updated_at = CURRENT_TIMESTAMP
WHERE {_SETTLED} + {_HELD} < %(limit)s::bigint
RETURNING {_SETTLED} + {_HELD} AS tokens
"""
_SETTLE_SQL = f"""
INSERT INTO store (prefix, key, value) VALUES (%(prefix)s, %(key)s, jsonb_build_object('tokens', %(tokens)s::bigint))
ON CONFLICT (prefix, key) DO UPDATE
SET value = jsonb_build_object(
        'tokens', {_SETTLED} + %(tokens)s::bigint,
        'held', COALESCE(store.value->'held', '{{}}'::jsonb) - %(lease)s::text
    ),
    updated_at = CURRENT_TIMESTAMP
RETURNING {_SETTLED} AS tokens
"""
_USED_SQL = f"SELECT {_SETTLED} + {_HELD} AS tokens FROM store WHERE prefix = %(prefix)s AND key = %(key)s"


class TokenCounter(Protocol):
    async def reserve(
        self, namespace: tuple[str, ...], key: str, lease: str, tokens: int, limit: int, *, now: float, expires: float
    ) -> int | None:
        """Hold `tokens` under `lease` until `expires` if the count at `now` is below `limit`: the new
        count, or None (refused, nothing held)."""

    async def settle(self, namespace: tuple[str, ...], key: str, lease: str, tokens: int) -> None:
        """Drop the hold `lease` (if it has not lapsed) and add the `tokens` the call used."""

    async def used(self, namespace: tuple[str, ...], key: str, now: float) -> int:
        """Settled tokens plus the holds live at `now`."""


def _live(value: dict[str, Any], now: float) -> dict[str, list[Any]]:
    held: dict[str, list[Any]] = value.get("held") or {}
    return {lease: hold for lease, hold in held.items() if float(hold[1]) > now}


def _count(value: dict[str, Any], held: dict[str, list[Any]]) -> int:
    return int(value.get("tokens", 0)) + sum(int(tokens) for tokens, _ in held.values())


class LockedStoreCounter:
    """Read-modify-write under a process-wide lock: atomic within one process only (see the module)."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store

    @staticmethod
    def _lock() -> asyncio.Lock:
        loop = id(asyncio.get_running_loop())
        lock = _LOCKS.get(loop)
        if lock is None:
            lock = _LOCKS[loop] = asyncio.Lock()
        return lock

    async def _value(self, namespace: tuple[str, ...], key: str) -> dict[str, Any]:
        item = await self.store.aget(namespace, key)
        return dict(item.value) if item else {}

    async def reserve(
        self, namespace: tuple[str, ...], key: str, lease: str, tokens: int, limit: int, *, now: float, expires: float
    ) -> int | None:
        async with self._lock():
            value = await self._value(namespace, key)
            held = _live(value, now)
            if _count(value, held) >= limit:
                return None
            held[lease] = [tokens, expires]
            await self.store.aput(namespace, key, {"tokens": int(value.get("tokens", 0)), "held": held})
            return _count(value, held)

    async def settle(self, namespace: tuple[str, ...], key: str, lease: str, tokens: int) -> None:
        async with self._lock():
            value = await self._value(namespace, key)
            held = dict(value.get("held") or {})
            held.pop(lease, None)
            await self.store.aput(namespace, key, {"tokens": int(value.get("tokens", 0)) + tokens, "held": held})

    async def used(self, namespace: tuple[str, ...], key: str, now: float) -> int:
        value = await self._value(namespace, key)
        return _count(value, _live(value, now))


class PostgresCounter:
    """One SQL statement per operation on the PostgreSQL store's table: atomic across replicas."""

    def __init__(self, store: Any) -> None:
        self.store = store  # an AsyncPostgresStore

    async def _one(self, sql: str, namespace: tuple[str, ...], key: str, **params: Any) -> int | None:
        async with self.store._cursor() as cursor:  # the store's own connection handling
            await cursor.execute(sql, {"prefix": ".".join(namespace), "key": key, **params})
            row = await cursor.fetchone()
        return None if row is None else int(row["tokens"])

    async def reserve(
        self, namespace: tuple[str, ...], key: str, lease: str, tokens: int, limit: int, *, now: float, expires: float
    ) -> int | None:
        held = {"lease": lease, "tokens": tokens, "expires": expires}
        return await self._one(_RESERVE_SQL, namespace, key, limit=limit, now=now, **held)

    async def settle(self, namespace: tuple[str, ...], key: str, lease: str, tokens: int) -> None:
        await self._one(_SETTLE_SQL, namespace, key, lease=lease, tokens=tokens)

    async def used(self, namespace: tuple[str, ...], key: str, now: float) -> int:
        return await self._one(_USED_SQL, namespace, key, now=now) or 0


def counter_for(store: BaseStore) -> TokenCounter:
    try:
        from langgraph.store.postgres import AsyncPostgresStore
    except ImportError:  # the postgres extra is not installed
        return LockedStoreCounter(store)
    return PostgresCounter(store) if isinstance(store, AsyncPostgresStore) else LockedStoreCounter(store)
