"""Start real `langgraph dev` servers for tests, each in a working directory of its own."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.server.devserver import DevServer, free_port, isolated_config, start_server

POSTGRES_STORE = {
    "store": {"path": str(PROJECT_ROOT / "src" / "deep_agent_service" / "memory" / "postgres.py") + ":postgres_store"}
}

# What every test server gets: the offline model, no tracing, no version check (no network at all).
BASE_ENV: dict[str, str] = {
    "MODEL": "offline",
    "AUTH_MODE": "local",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "ANTHROPIC_API_KEY": "",
    "OPENAI_API_KEY": "",
}


def launch(
    workdir: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DevServer:
    """A server on a free loopback port whose data lives in `workdir/.langgraph_api`."""
    full_env = {**BASE_ENV, **(env or {})}
    config = isolated_config(workdir, full_env, overrides)
    return start_server(
        port=port or free_port(),
        env=full_env,
        log_path=workdir / "server.log",
        cwd=workdir,
        config=config,
    )


@contextlib.contextmanager
def serving(
    workdir: Path, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Iterator[DevServer]:
    """`launch`, stopped when the block ends (for fixtures: `with serving(...) as server: yield server`)."""
    server = launch(workdir, env=env, overrides=overrides)
    try:
        yield server
    finally:
        server.stop()


def api_keys_env(table: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Server environment for `api_keys` auth; `table` maps each key to its user, org and role."""
    return {"AUTH_MODE": "api_keys", "AUTH_API_KEYS": json.dumps(table)}
