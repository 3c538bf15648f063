"""Long-term memory stores beyond the server's default: PostgreSQL for `langgraph dev` and self-hosting.

LangSmith Deployments already give the server a PostgreSQL store. For `langgraph dev` (or any
server that takes a custom store path), add to `langgraph.json`:

    "store": {"path": "./src/deep_agent_service/memory/postgres.py:postgres_store"}

and set `POSTGRES_URI`. The tables are created on first start (`setup()` is idempotent).

The store holds a connection POOL whose connections are checked before use, not one connection:
a single connection dies with a database restart and never comes back, so every memory call would
fail until the server itself restarted. With the pool, calls fail while the database is down (the
tools say so) and work again as soon as it is back (tests/integration/test_faults_postgres.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from langgraph.store.base import BaseStore

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.settings import get_settings

POOL_MAX_SIZE = 10
# How long a memory call waits for a connection while the database is down before its tool says so
# (psycopg's default is 30 s, and a run makes several store calls).
POOL_WAIT_SECONDS = 5.0


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
    from psycopg_pool import AsyncConnectionPool

    # `check` is passed through to the pool although `PoolConfig` does not declare it.
    pool: dict[str, Any] = {
        "min_size": 1,
        "max_size": POOL_MAX_SIZE,
        "timeout": POOL_WAIT_SECONDS,
        "check": AsyncConnectionPool.check_connection,
    }
    async with AsyncPostgresStore.from_conn_string(uri.get_secret_value(), pool_config=cast(Any, pool)) as store:
        await store.setup()
        yield store
