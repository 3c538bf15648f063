"""Typed service settings, read once from the environment (and `.env`), validated at start-up.

Every variable here is documented in `.env.example`. A bad value stops the server with one line
that names the variable and says how to fix it (`ConfigurationError`), never on the hundredth
request.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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
    # --- operations ---
    # Read by the langsmith library itself; validated here so "on without a key" fails at start-up.
    langsmith_tracing: bool = Field(default=False, description="Send traces to LangSmith (off: no network).")
    langsmith_api_key: SecretStr | None = Field(default=None, description="LangSmith key, needed for tracing.")

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
    def _check_tracing_key(self) -> Settings:
        if self.langsmith_tracing and not (self.langsmith_api_key and self.langsmith_api_key.get_secret_value()):
            raise ValueError("LANGSMITH_TRACING=true needs LANGSMITH_API_KEY: set the key, or LANGSMITH_TRACING=false")
        return self

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
