"""Operations: health probes of the server's parts and one structured log line per run.

The same code serves `langgraph dev` / LangSmith Deployments (langgraph-api) and Aegra: the
server's store is found through whichever server is running this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from deep_agent_service.memory.server_store import server_store
from deep_agent_service.settings import get_settings
from deep_agent_service.tenancy.identity import RunIdentity

logger = logging.getLogger("deep_agent_service.runs")

HEALTH_PROBE_NAMESPACE = ("healthz",)
HEALTH_TIMEOUT_SECONDS = 2.0


async def probe_store() -> dict[str, Any]:
    """One cheap read through the server's store (a key that never exists), with a time limit."""
    started = time.perf_counter()
    try:
        store = await server_store()
        await asyncio.wait_for(store.aget(HEALTH_PROBE_NAMESPACE, "probe"), HEALTH_TIMEOUT_SECONDS)
    except Exception as error:  # a health probe reports every failure instead of raising
        return {"status": "error", "error": f"{type(error).__name__}: {error}"}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


async def probe_sandbox_provider() -> dict[str, Any]:
    """The sandbox provider's state: built (isolation available, root writable) or the reason not."""
    from deep_agent_service.sandboxes.registry import get_provider

    settings = get_settings()
    try:
        await asyncio.to_thread(get_provider, network=False)
    except Exception as error:  # any failure is the answer: the health check reports it
        return {"status": "error", "provider": settings.sandbox.provider, "detail": str(error)}
    return {"status": "ok", "provider": settings.sandbox.provider}


def log_run_start(identity: RunIdentity, *, run_id: str | None, graph: str) -> None:
    """One JSON log line per run, with the fields an operator filters on."""
    fields = {
        "event": "run_start",
        "run_id": run_id,
        "thread_id": identity.thread_id,
        "assistant_id": identity.assistant_id,
        "user": identity.user,
        "org": identity.org,
        "graph": graph,
    }
    logger.info(json.dumps(fields, sort_keys=True), extra={"run_fields": fields})
