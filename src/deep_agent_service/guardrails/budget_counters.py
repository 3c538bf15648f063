"""Atomic token counters for the budgets: reserve-if-below-limit and add, as one operation each.

Two implementations, chosen by the store the run has:

- PostgreSQL (`AsyncPostgresStore`, the self-hosted and LangSmith-style deployments): one
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE tokens < limit RETURNING` statement on the store's
  own `store` table, so every replica and every run sees one consistent counter;
- any other store (the in-memory store of `langgraph dev`): read and write under an `asyncio.Lock`
  of the process. This is atomic only within ONE process (and its event loop), which is what
  `langgraph dev` is; several replicas need the PostgreSQL store.

The counter is an ordinary store item `{"tokens": n}`, readable with the store API.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from langgraph.store.base import BaseStore

_LOCKS: dict[int, asyncio.Lock] = {}  # one per event loop

_RESERVE_SQL = """
INSERT INTO store (prefix, key, value) VALUES (%(prefix)s, %(key)s, jsonb_build_object('tokens', %(tokens)s::bigint))
ON CONFLICT (prefix, key) DO UPDATE
SET value = jsonb_set(
        store.value, '{tokens}', to_jsonb(COALESCE((store.value->>'tokens')::bigint, 0) + %(tokens)s::bigint)
    ),
    updated_at = CURRENT_TIMESTAMP
WHERE COALESCE((store.value->>'tokens')::bigint, 0) < %(limit)s::bigint
RETURNING (value->>'tokens')::bigint AS tokens
"""
_USED_SQL = (
    "SELECT COALESCE((value->>'tokens')::bigint, 0) AS tokens FROM store WHERE prefix = %(prefix)s AND key = %(key)s"
)
_NO_LIMIT = 2**62


class TokenCounter(Protocol):
    async def reserve(self, namespace: tuple[str, ...], key: str, tokens: int, limit: int) -> int | None:
        """Add `tokens` if the count is below `limit`: the new count, or None (refused, nothing added)."""

    async def add(self, namespace: tuple[str, ...], key: str, tokens: int) -> None:
        """Add `tokens` (negative to release a reservation) whatever the count."""

    async def used(self, namespace: tuple[str, ...], key: str) -> int: ...


async def _item_tokens(store: BaseStore, namespace: tuple[str, ...], key: str) -> int:
    item = await store.aget(namespace, key)
    return int(item.value.get("tokens", 0)) if item else 0


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

    async def reserve(self, namespace: tuple[str, ...], key: str, tokens: int, limit: int) -> int | None:
        async with self._lock():
            used = await _item_tokens(self.store, namespace, key)
            if used >= limit:
                return None
            await self.store.aput(namespace, key, {"tokens": used + tokens})
            return used + tokens

    async def add(self, namespace: tuple[str, ...], key: str, tokens: int) -> None:
        await self.reserve(namespace, key, tokens, _NO_LIMIT)

    async def used(self, namespace: tuple[str, ...], key: str) -> int:
        return await _item_tokens(self.store, namespace, key)


class PostgresCounter:
    """One SQL statement per operation on the PostgreSQL store's table: atomic across replicas."""

    def __init__(self, store: Any) -> None:
        self.store = store  # an AsyncPostgresStore

    async def _one(self, sql: str, **params: Any) -> int | None:
        async with self.store._cursor() as cursor:  # the store's own connection handling
            await cursor.execute(sql, params)
            row = await cursor.fetchone()
        return None if row is None else int(row["tokens"])

    async def reserve(self, namespace: tuple[str, ...], key: str, tokens: int, limit: int) -> int | None:
        return await self._one(_RESERVE_SQL, prefix=".".join(namespace), key=key, tokens=tokens, limit=limit)

    async def add(self, namespace: tuple[str, ...], key: str, tokens: int) -> None:
        await self.reserve(namespace, key, tokens, _NO_LIMIT)

    async def used(self, namespace: tuple[str, ...], key: str) -> int:
        return await self._one(_USED_SQL, prefix=".".join(namespace), key=key) or 0


def counter_for(store: BaseStore) -> TokenCounter:
    try:
        from langgraph.store.postgres import AsyncPostgresStore
    except ImportError:  # the postgres extra is not installed
        return LockedStoreCounter(store)
    return PostgresCounter(store) if isinstance(store, AsyncPostgresStore) else LockedStoreCounter(store)
