"""Typed service settings, read once from the environment (and `.env`), validated at start-up.

Every variable here is documented in `.env.example`. A bad value stops the server with one line
that names the variable and says how to fix it (`ConfigurationError`), never on the hundredth
request.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

OFFLINE_MODEL = "offline"

# Keys whose presence means a real provider can be reached; without any, the offline model is the default.
PROVIDER_KEY_VARIABLES: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}
# The optional extra that installs each provider's LangChain integration.
PROVIDER_EXTRAS: dict[str, str] = {"anthropic": "anthropic", "openai": "openai"}


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names the variable and the fix."""


AuthMode = Literal["local", "api_keys", "jwt"]


def _known_providers() -> frozenset[str]:
    from langchain.chat_models.base import _BUILTIN_PROVIDERS

    return frozenset(_BUILTIN_PROVIDERS)


def validate_model_spec(spec: str, variable: str) -> str:
    """Check a `provider:name` spec (or `offline`) without importing the provider package."""
    spec = spec.strip()
    if spec == OFFLINE_MODEL:
        return spec
    provider, sep, name = spec.partition(":")
    if not sep or not provider or not name:
        raise ValueError(
            f"{variable}={spec!r} is not a model spec: use 'provider:model-name' "
            f"(e.g. anthropic:claude-sonnet-4-5) or '{OFFLINE_MODEL}'"
        )
    if provider not in _known_providers():
        raise ValueError(
            f"{variable}={spec!r} names unknown provider {provider!r}: use one of "
            f"{', '.join(sorted(_known_providers()))}, or '{OFFLINE_MODEL}'"
        )
    return spec


class Settings(BaseSettings):
    """Service settings. Field names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    model: str | None = Field(
        default=None,
        description="Primary chat model: provider:name or 'offline' (the default without provider keys).",
    )
    fallback_models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated provider:name specs tried in order when the primary fails."
    )
    auth_mode: AuthMode = Field(default="local", description="local | api_keys | jwt")
    local_user: str = Field(default="local", min_length=1)
    local_org: str = Field(default="local", min_length=1)
    deployment_name: str = Field(default="deep-agent", min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")

    # --- sandboxes ---
    sandbox_provider: Literal["local", "langsmith", "daytona", "modal", "runloop"] = Field(
        default="local", description="Where `execute` runs: the embedded local provider or a cloud adapter."
    )
    sandbox_root: str = Field(default=".sandboxes", min_length=1, description="Local provider: workspace directory.")
    sandbox_isolation: Literal["bwrap", "none"] = Field(
        default="bwrap", description="Local provider: bubblewrap, or none (explicit opt-out, no isolation)."
    )
    sandbox_idle_ttl_seconds: int = Field(default=3600, ge=60, description="Idle time after which a box is reaped.")
    sandbox_reap_interval_seconds: int = Field(default=300, ge=0, description="Reaper period in the server; 0 = off.")
    sandbox_timeout_seconds: int = Field(default=120, ge=1, description="Wall-clock limit of one command.")
    sandbox_output_bytes: int = Field(default=256 * 1024, ge=1024, description="Output cap of one command.")
    sandbox_memory_mb: int = Field(default=1024, ge=64, description="Address-space limit of one command.")
    sandbox_max_processes: int = Field(default=256, ge=8, description="Process limit of one command.")
    sandbox_max_file_mb: int = Field(default=100, ge=1, description="Largest file a command may write.")
    sandbox_disk_mb: int = Field(default=1024, ge=1, description="Disk cap of one workspace.")
    sandbox_sync_max_file_bytes: int = Field(default=1024 * 1024, ge=1, description="Largest file synced in or out.")
    sandbox_server_url: str | None = Field(
        default=None, description="Reaper CLI: the LangGraph server asked whether threads/assistants exist."
    )

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else validate_model_spec(value, "MODEL")

    @field_validator("fallback_models", mode="before")
    @classmethod
    def _split_fallbacks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("fallback_models")
    @classmethod
    def _check_fallbacks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validate_model_spec(spec, "FALLBACK_MODELS") for spec in value)

    @model_validator(mode="after")
    def _check_offline_alone(self) -> Settings:
        if OFFLINE_MODEL in self.fallback_models:
            raise ValueError("FALLBACK_MODELS must not contain 'offline': it is a demo model, not a fallback")
        return self

    @property
    def primary_model(self) -> str:
        """The model spec actually used: MODEL, or the offline model when no provider key is present."""
        if self.model:
            return self.model
        if any(os.environ.get(var) for var in PROVIDER_KEY_VARIABLES.values()):
            raise ConfigurationError(
                "MODEL is unset but a provider key is present: set MODEL=provider:name "
                "(e.g. MODEL=anthropic:claude-sonnet-4-5), or MODEL=offline to keep the offline model"
            )
        return OFFLINE_MODEL


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    variable = ".".join(str(part) for part in first["loc"]).upper() or "settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    if variable.lower() in message.lower():
        return message
    return f"{variable}: {message} (got {first.get('input')!r})"


def load_settings() -> Settings:
    """Read and validate settings now; raise `ConfigurationError` with one clear line."""
    try:
        settings = Settings()
        _ = settings.primary_model
    except ValidationError as error:
        raise ConfigurationError(f"invalid configuration: {_one_line(error)}") from None
    return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, loaded on first use (at import of `src/agent.py`)."""
    return load_settings()
