"""The store of the LangGraph server this process runs in (langgraph-api or Aegra), for code that
runs beside the graph: the HTTP `/store` handler's quota check, the health probe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from langgraph.store.base import BaseStore


async def _langgraph_api_store() -> BaseStore:
    from langgraph_api.store import get_store

    store: BaseStore = await get_store()
    return store


async def _aegra_store() -> BaseStore:
    from aegra_api.core.database import db_manager  # type: ignore[import-not-found, unused-ignore]

    store: BaseStore = db_manager.get_store()
    return store


_STORE_LOCATORS: tuple[Callable[[], Awaitable[BaseStore]], ...] = (_langgraph_api_store, _aegra_store)


async def server_store() -> BaseStore:
    """The store of the server this process runs in (langgraph-api or Aegra)."""
    for locate in _STORE_LOCATORS:
        try:
            return await locate()
        except ImportError:
            continue
    raise LookupError("no LangGraph server in this process (neither langgraph-api nor aegra-api is importable)")
