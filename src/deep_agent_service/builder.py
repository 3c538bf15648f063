"""Assembles the deep agent for one set of assistant settings, and caches the compiled result.

Everything that differs per run (whose memory, which thread, which sandbox) is resolved inside the
graph from the runtime, so one compiled agent serves every run of an assistant configuration and
the factory costs a dictionary lookup, not a graph compile.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from deepagents import create_deep_agent
from langchain.agents.middleware import AgentMiddleware, TodoListMiddleware
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deep_agent_service.memory import DEFAULT_MOUNTS, build_backend, describe_mounts
from deep_agent_service.models import chat_model
from deep_agent_service.sandboxes import SandboxScope, sandbox_parts
from deep_agent_service.settings import get_settings, validate_model_spec

ASSISTANT_SETTINGS_KEY = "assistant_settings"

BASE_PROMPT = """You are a helpful deep agent serving many users. Plan multi-step work with `write_todos`.
Files outside the persistent paths below are scratch space for this conversation only."""


class AssistantSettingsError(ValueError):
    """An assistant's settings (config.configurable.assistant_settings) are invalid."""


class AssistantSettings(BaseModel):
    """Per-assistant settings, stored on the LangGraph assistant as `configurable.assistant_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, description="Overrides MODEL for this assistant.")
    instructions: str = Field(default="", max_length=20_000, description="Added to the system prompt.")

    # --- memory settings (memory.py) ---

    # --- sandbox settings (sandboxes/) ---
    sandbox_scope: SandboxScope = Field(
        default=SandboxScope.THREAD, description="thread | assistant | none (no execute; thread scratch files)."
    )
    sandbox_network: bool = Field(default=False, description="Let sandbox commands reach the network.")

    # --- guardrail settings (guardrails/) ---

    # --- human-in-the-loop settings ---

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        return None if value is None else validate_model_spec(value, "assistant_settings.model")


def assistant_settings_from(configurable: Mapping[str, Any]) -> AssistantSettings:
    """Parse the assistant settings of a run; unknown keys and bad values are refused clearly."""
    raw = configurable.get(ASSISTANT_SETTINGS_KEY) or {}
    if not isinstance(raw, Mapping):
        raise AssistantSettingsError(f"{ASSISTANT_SETTINGS_KEY} must be an object, got {type(raw).__name__}")
    try:
        return AssistantSettings.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors())
        raise AssistantSettingsError(f"invalid {ASSISTANT_SETTINGS_KEY}: {problems}") from None


def system_prompt(settings: AssistantSettings) -> str:
    parts = [BASE_PROMPT, describe_mounts(DEFAULT_MOUNTS)]
    if settings.instructions:
        parts.append(settings.instructions)
    return "\n\n".join(parts)


@functools.lru_cache(maxsize=128)
def build_agent(settings: AssistantSettings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled agent for one assistant configuration (cached: same settings, same object)."""
    model = chat_model(settings.model or get_settings().primary_model)
    sandbox = sandbox_parts(settings.sandbox_scope, network=settings.sandbox_network)
    middleware: list[AgentMiddleware[Any, Any]] = [
        # guardrails first (outermost)
        TodoListMiddleware(),
        # sandbox file sync last
        *sandbox.middleware,
    ]
    return create_deep_agent(
        model=model,
        system_prompt=system_prompt(settings),
        backend=build_backend(DEFAULT_MOUNTS, default=sandbox.default),
        middleware=middleware,
        name="deep-agent",
    )
