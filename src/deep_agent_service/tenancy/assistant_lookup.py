"""The stored configuration of an assistant, read from the LangGraph server this process runs in.

Stock clients (LangChain's Deep Agents UI) send the assistant's own `config` back with every run.
For a member that echo carries `assistant_settings`, which a member may not override per run; the
`threads.create_run` handler compares it with what is stored to tell an echo from an override.

On Aegra the handler also needs the whole stored `configurable`: Aegra 0.11 merges a run's config
over its assistant's one level deep only, so a run's own `configurable` (ours always has one: the
stamped `assistant_id`) would replace the assistant's, settings and all. The handler puts the
stored one beneath the run's, which is what langgraph-api does itself. Aegra's state reads
(`threads.get_state`, history, state updates) call the graph factory with the thread id alone;
the factory reads the configurable of the thread's assistant here, so a paused run's state shows
its pending approval as on langgraph-api.

On Aegra both reads happen while Aegra holds a connection of its SQLAlchemy pool (authorizing the
run, serving the state read). Taking a second one from that pool is a checkout nested in another:
under load every connection is held by a request waiting for one more, and all of them time out
together. The reads use an engine of their own instead, whose connections are only ever held for
one short query.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from typing import Any

from deep_agent_service.assistant_settings import ASSISTANT_SETTINGS_KEY

NOT_FOUND = object()
AEGRA_SYSTEM_OWNER = "system"  # Aegra's owner of the graphs' own assistants, visible to everyone
LOOKUP_POOL_SIZE = 4
"""Connections of the lookups' own engine per process: each serves one indexed read by primary key."""


def settings_in(configurable: Mapping[str, Any] | None) -> Any:
    """The `assistant_settings` of a stored `configurable` ({} when it has none); `NOT_FOUND` for None."""
    if configurable is None:
        return NOT_FOUND
    return configurable.get(ASSISTANT_SETTINGS_KEY) or {}


async def stored_assistant_settings(assistant_id: str) -> Any:
    """The assistant's stored `configurable.assistant_settings` on langgraph-api ({} when it has none),
    or `NOT_FOUND` when this server cannot tell (no langgraph-api runtime in the process; no such id)."""
    try:
        from langgraph_runtime.database import connect  # type: ignore[import-untyped]
        from langgraph_runtime.ops import Assistants  # type: ignore[import-untyped]
    except ImportError:
        return NOT_FOUND
    try:
        # ctx=None: the run handler has already authorized the caller for this assistant.
        async with connect() as conn:
            async for assistant in await Assistants.get(conn, assistant_id):
                return settings_in((assistant.get("config") or {}).get("configurable") or {})
    except ValueError:  # not an assistant UUID: nothing to compare with, the strict rule applies
        return NOT_FOUND
    return NOT_FOUND


@functools.cache
def on_aegra() -> bool:
    """Whether this process is an Aegra server (its package is importable)."""
    return importlib.util.find_spec("aegra_api") is not None


@functools.cache
def _aegra_lookup_engine() -> Any:
    """The lookups' own engine on Aegra's database (never Aegra's pool; see the module's docstring)."""
    from aegra_api.settings import settings  # type: ignore[import-not-found]
    from sqlalchemy.ext.asyncio import create_async_engine  # type: ignore[import-not-found]

    return create_async_engine(
        settings.db.database_url,
        pool_size=LOOKUP_POOL_SIZE,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={"prepared_statement_cache_size": 0},  # as Aegra's own engine, for PgBouncer
    )


def _configurable_of(config: Any) -> dict[str, Any]:
    configurable = config.get("configurable") if isinstance(config, Mapping) else None
    return dict(configurable) if isinstance(configurable, Mapping) else {}


def _aegra_modules() -> tuple[Any, Any] | None:
    """Aegra's ORM module and SQLAlchemy, or None when this process is not Aegra."""
    if not on_aegra():
        return None
    try:
        import sqlalchemy  # type: ignore[import-not-found]
        from aegra_api.core import orm  # type: ignore[import-not-found]
    except ImportError:
        return None
    return orm, sqlalchemy


async def _first_row(statement: Any) -> Any:
    """The first row of one short read, on the lookups' own engine."""
    async with _aegra_lookup_engine().connect() as conn:
        return (await conn.execute(statement)).first()


async def aegra_stored_configurable(assistant_id: str, user_id: str) -> dict[str, Any] | None:
    """The assistant's stored `config.configurable` on Aegra ({} when it has none), read as Aegra reads
    it for the run: by id, among the caller's own assistants and the system ones. None when the
    caller sees no such assistant (Aegra answers 404 next) or this process is not Aegra."""
    if (modules := _aegra_modules()) is None:
        return None
    orm, sa = modules
    assistant = orm.Assistant
    statement = sa.select(assistant.assistant_id, assistant.config).where(
        assistant.assistant_id == assistant_id,
        sa.or_(assistant.user_id == user_id, assistant.user_id == AEGRA_SYSTEM_OWNER),
    )
    row = await _first_row(statement)
    return None if row is None else _configurable_of(row.config)


async def aegra_thread_assistant_configurable(thread_id: str) -> dict[str, Any] | None:
    """On Aegra, the stored `config.configurable` of the assistant the thread last ran with (Aegra
    keeps its id in the thread's metadata), among the thread owner's assistants and the system
    ones; None when there is none or this process is not Aegra. For state reads, which Aegra has
    already authorized for the thread's owner."""
    if (modules := _aegra_modules()) is None:
        return None
    orm, sa = modules
    assistant, thread = orm.Assistant, orm.Thread
    statement = (
        sa.select(assistant.config)
        .join(thread, assistant.assistant_id == thread.metadata_json.op("->>")(sa.literal("assistant_id", sa.Text)))
        .where(
            thread.thread_id == thread_id,
            sa.or_(assistant.user_id == thread.user_id, assistant.user_id == AEGRA_SYSTEM_OWNER),
        )
    )
    row = await _first_row(statement)
    return None if row is None else _configurable_of(row.config)


async def aegra_run_configurable(run_id: str) -> dict[str, Any] | None:
    """On Aegra, what the `threads.create_run` handler would have given a run it never saw: the
    run's assistant's stored `config.configurable` with that assistant's id (`assistant_id`).

    Aegra fires a cron's runs itself, past the handler, and merges the cron's config over the
    assistant's one level deep: a cron whose payload has a `configurable` of its own loses the
    assistant's settings, and no cron run carries its assistant's id. The run's row names both the
    assistant and its owner; the assistant is read as Aegra reads it for that owner. None when there
    is no such run or assistant, or this process is not Aegra.
    """
    if (modules := _aegra_modules()) is None:
        return None
    orm, sa = modules
    assistant, run = orm.Assistant, orm.Run
    statement = (
        sa.select(assistant.assistant_id, assistant.config)
        .join(run, assistant.assistant_id == run.assistant_id)
        .where(run.run_id == run_id, sa.or_(assistant.user_id == run.user_id, assistant.user_id == AEGRA_SYSTEM_OWNER))
    )
    row = await _first_row(statement)
    return None if row is None else {**_configurable_of(row.config), "assistant_id": str(row.assistant_id)}
