"""The graph factory registered in `langgraph.json` as `agent`.

The server calls it for every run and for every state read, state update and schema fetch. It
returns the cached compiled agent for the assistant's settings; who the run acts for is resolved
inside the graph from the verified auth user, never from client-supplied configuration.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk.runtime import ServerRuntime

from deep_agent_service.assistant_settings import assistant_settings_from
from deep_agent_service.builder import build_agent
from deep_agent_service.runs import run_id
from deep_agent_service.server.operations import log_run_start
from deep_agent_service.settings import get_settings
from deep_agent_service.tenancy.assistant_lookup import aegra_run_configurable, aegra_thread_assistant_configurable
from deep_agent_service.tenancy.handlers import SPOOFABLE_KEYS
from deep_agent_service.tenancy.identity import resolve_identity

logger = logging.getLogger("deep_agent_service.agent")

get_settings()  # a misconfiguration stops the server at start-up, not on the first request
# The default assistant's agent, compiled while the server loads this module: compiling costs a few
# hundred ms, which the first run's factory call would otherwise pay (the server warns above 100 ms).
build_agent(assistant_settings_from({}))


async def agent(config: RunnableConfig, runtime: ServerRuntime[Any]) -> CompiledStateGraph[Any, Any, Any, Any]:
    configurable = config.get("configurable") or {}
    if runtime.execution_runtime is None and "assistant_id" not in configurable and configurable.get("thread_id"):
        # A state read on Aegra carries the thread id alone: build the thread's assistant's graph, so a
        # pending approval shows in the state (langgraph-api passes the assistant's config itself).
        stored = await aegra_thread_assistant_configurable(str(configurable["thread_id"]))
        configurable = {**(stored or {}), **configurable}
    stamped: dict[str, Any] = {}
    if runtime.execution_runtime is not None and "assistant_id" not in configurable and (run := run_id(config)):
        # A run the `threads.create_run` handler never saw (Aegra fires a cron's runs itself): its
        # assistant's settings, the run's own keys over them, and its id for the run's identity.
        stored = await aegra_run_configurable(run)
        if stored is not None:
            configurable = {**stored, **configurable}
            stamped = {"assistant_id": stored["assistant_id"]}
    graph = build_agent(assistant_settings_from(configurable))
    if stamped:
        # beneath the run's own config, as the handler's stamp would have been (the graph stays cached)
        graph = graph.with_config(configurable=stamped)
    if runtime.execution_runtime is not None:
        identity = resolve_identity(
            runtime.user,
            assistant_id=configurable.get("assistant_id"),
            thread_id=configurable.get("thread_id"),
        )
        log_run_start(identity, run_id=run_id(config), graph="agent")
        # Aegra stamps the verified user into `user_id` itself; only a different value is a spoof attempt.
        supplied = {key for key in SPOOFABLE_KEYS & configurable.keys() if configurable[key] != identity.user}
        if ignored := sorted(supplied):
            logger.warning("ignoring client-supplied identity keys %s for user %s", ignored, identity.user)
    return graph
