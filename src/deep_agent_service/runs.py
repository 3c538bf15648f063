"""The run the current code works for, read one way everywhere.

langgraph puts the run id in several places depending on who calls: the runtime's
`execution_info` (graph nodes and middleware), the config's `configurable` (the server's runs) or
its `metadata` (the factory's config). Factory, guardrail events, memory provenance and sandbox
sync all ask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def current_config() -> Mapping[str, Any] | None:
    """The config of the graph run this task belongs to, or None outside a run."""
    from langgraph.config import get_config

    try:
        return get_config()
    except RuntimeError:
        return None


def run_id(config: Mapping[str, Any] | None = None, runtime: Any = None) -> str | None:
    """The run's id: from `runtime`'s execution info, else `config` (default: the current run's)."""
    found = getattr(getattr(runtime, "execution_info", None), "run_id", None)
    if not found:
        config = current_config() if config is None else config
        if config is None:
            return None
        found = (config.get("configurable") or {}).get("run_id") or (config.get("metadata") or {}).get("run_id")
    return str(found) if found else None


def thread_id(config: Mapping[str, Any] | None = None) -> str | None:
    """The thread of `config` (default: the current run's); None for stateless reads."""
    config = current_config() if config is None else config
    found = ((config or {}).get("configurable") or {}).get("thread_id")
    return str(found) if found else None
