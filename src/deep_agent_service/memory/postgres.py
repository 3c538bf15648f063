"""Long-term memory stores beyond the server's default: PostgreSQL for `langgraph dev` and self-hosting.

LangSmith Deployments already give the server a PostgreSQL store. For `langgraph dev` (or any
server that takes a custom store path), add to `langgraph.json`:

    "store": {"path": "./src/deep_agent_service/memory/postgres.py:postgres_store"}

and set `POSTGRES_URI`. The tables are created on first start (`setup()` is idempotent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.store.base import BaseStore

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.settings import get_settings


@asynccontextmanager
async def postgres_store() -> AsyncIterator[BaseStore]:
    """An `AsyncPostgresStore` on `POSTGRES_URI`, open for the server's lifetime."""
    uri = get_settings().memory.postgres_uri
    if uri is None:
        raise ConfigurationError("the PostgreSQL store needs POSTGRES_URI (e.g. postgresql://user@host:5432/db)")
    try:
        from langgraph.store.postgres import AsyncPostgresStore
    except ImportError as error:
        raise ConfigurationError("the PostgreSQL store needs: pip install 'deep-agent-service[postgres]'") from error
    async with AsyncPostgresStore.from_conn_string(uri.get_secret_value()) as store:
        await store.setup()
        yield store
