"""The settings of one assistant (`config.configurable.assistant_settings`): what the builder builds
from, and what the assistants' auth handlers validate on create and update, so a bad key or value is
refused when it is written (422), not on the assistant's next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from deepagents import SubAgent
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deep_agent_service.errors import ServiceError
from deep_agent_service.guardrails.config import GuardrailOverrides
from deep_agent_service.memory.mounts import ALL_MOUNTS, MountName
from deep_agent_service.models import chat_model
from deep_agent_service.sandboxes.provider import SandboxScope
from deep_agent_service.settings import validate_model_spec

ASSISTANT_SETTINGS_KEY = "assistant_settings"
ApprovableTool = Literal["write_file", "edit_file", "delete", "execute", "task", "write_todos"]


class AssistantSettingsError(ServiceError, ValueError):
    """An assistant's settings (config.configurable.assistant_settings) are invalid."""


class SubagentSettings(BaseModel):
    """One `task` subagent of an assistant (besides the general-purpose one); it runs under the same guardrails."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="What the agent passes as `subagent_type`.")
    description: str = Field(min_length=1, max_length=2_000, description="When the agent should delegate to it.")
    system_prompt: str = Field(default="", max_length=20_000)
    model: str | None = Field(default=None, description="Overrides the assistant's model for this subagent.")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        return None if value is None else validate_model_spec(value, "assistant_settings.subagents[].model")

    def spec(self) -> SubAgent:
        spec: SubAgent = {"name": self.name, "description": self.description, "system_prompt": self.system_prompt}
        if self.model:
            spec["model"] = chat_model(self.model)
        return spec


class AssistantSettings(BaseModel):
    """Per-assistant settings, stored on the LangGraph assistant as `configurable.assistant_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, description="Overrides MODEL for this assistant.")
    instructions: str = Field(default="", max_length=20_000, description="Added to the system prompt.")

    # --- memory settings (memory/mounts.py) ---
    mounts: tuple[MountName, ...] = Field(default=ALL_MOUNTS, description="Persistent mounts the agent gets.")
    shared_writable: bool = Field(default=False, description="Let the agent write the assistant's /shared/.")

    # --- sandbox settings (sandboxes/) ---
    sandbox_scope: SandboxScope = Field(
        default=SandboxScope.THREAD, description="thread | assistant | none (no execute; thread scratch files)."
    )
    sandbox_network: bool = Field(
        default=False,
        description="Let sandbox commands reach the internet, through a network of their own "
        "(NAT; never the host or private ranges).",
    )

    # --- guardrail settings (guardrails/) ---
    guardrails: GuardrailOverrides = Field(
        default_factory=GuardrailOverrides, description="Overrides of the env guardrail settings."
    )

    # --- subagents (`task`), besides the general-purpose one; all run under the guardrails above ---
    subagents: tuple[SubagentSettings, ...] = Field(default=(), max_length=16)

    # --- human-in-the-loop settings ---
    interrupt_on: tuple[ApprovableTool, ...] = Field(
        default=(), description="Tools whose calls pause the run until a person approves, edits or rejects them."
    )

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


__all__ = [
    "ASSISTANT_SETTINGS_KEY",
    "AssistantSettings",
    "AssistantSettingsError",
    "SubagentSettings",
    "assistant_settings_from",
]
