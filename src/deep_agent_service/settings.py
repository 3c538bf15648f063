"""Typed service settings, read once from the environment (and `.env`), validated at start-up.

Fields are grouped by concern, one class per package that reads them: `ModelSettings`,
`AuthSettings` (tenancy/), `MemorySettings` (memory/), `SandboxSettings` (sandboxes/),
`GuardrailSettings` (guardrails/) and `ServerSettings` (server/ and deployment-wide names).
`Settings` holds one of each (`get_settings().sandbox.root`). A group with an `env_prefix` reads
`<PREFIX><FIELD>` (`SandboxSettings.root` is `SANDBOX_ROOT`); a field whose variable does not
follow its group's prefix names it in `validation_alias`. Every variable is documented in
`.env.example`. A bad value stops the server with one line that names the variable and says how
to fix it (`ConfigurationError`), never on the hundredth request.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deep_agent_service.errors import ConfigurationError

OFFLINE_MODEL = "offline"

# Keys whose presence means a real provider can be reached; without any, the offline model is the default.
PROVIDER_KEY_VARIABLES: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}
# The optional extra that installs each provider's LangChain integration.
PROVIDER_EXTRAS: dict[str, str] = {"anthropic": "anthropic", "openai": "openai"}

SandboxProviderName = Literal["local", "langsmith", "daytona", "modal", "runloop"]

# Set by the LangSmith Deployments control plane in every deployment's container (langgraph-api reads it to
# tell a managed deployment from a self-hosted server; `langgraph deploy` refuses it as a reserved name).
# That image has no bubblewrap, so there the sandbox provider defaults to LangSmith sandboxes.
LANGSMITH_DEPLOYMENT_VARIABLE = "LANGSMITH_HOST_PROJECT_ID"


def on_langsmith_deployment() -> bool:
    """Whether this process runs on LangSmith Deployments (the platform's variable is set)."""
    return bool(os.environ.get(LANGSMITH_DEPLOYMENT_VARIABLE, "").strip())


def default_sandbox_provider() -> SandboxProviderName:
    """The provider when SANDBOX_PROVIDER is unset: langsmith on LangSmith Deployments, local elsewhere."""
    return "langsmith" if on_langsmith_deployment() else "local"


AuthMode = Literal["local", "api_keys", "jwt"]

# How one kind of personal data is treated by the PII guardrail ("off" = not detected).
PIIStrategy = Literal["off", "redact", "mask", "hash", "block"]
PII_STRATEGY_HELP = "off | redact | mask | hash | block"


class ToolLimit(BaseModel):
    """Call limits of one tool (TOOL_CALL_LIMITS); 0 or absent = unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: int = Field(default=0, ge=0)
    thread: int = Field(default=0, ge=0)


def _known_providers() -> frozenset[str]:
    from deep_agent_service.private_apis import BUILTIN_PROVIDERS

    return BUILTIN_PROVIDERS


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


class ApiKeyPrincipal(BaseModel):
    """Who an API key authenticates as."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1)
    org: str = Field(min_length=1)
    role: Literal["member", "admin"] = "member"


_API_KEYS: TypeAdapter[dict[str, ApiKeyPrincipal]] = TypeAdapter(dict[str, ApiKeyPrincipal])


class _Group(BaseSettings):
    """What every settings group shares: the environment and `.env`, empty means unset, frozen."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        ignored_types=(functools.cached_property,),
    )


class ModelSettings(_Group):
    """Which chat models the agent uses (models.py)."""

    model: str | None = Field(
        default=None,
        description="Primary chat model: provider:name or 'offline' (the default without provider keys).",
    )
    fallback_models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated provider:name specs tried in order when the primary fails."
    )

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else validate_model_spec(value, "MODEL")

    @field_validator("fallback_models", mode="before")
    @classmethod
    def _split_fallbacks(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("fallback_models")
    @classmethod
    def _check_fallbacks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validate_model_spec(spec, "FALLBACK_MODELS") for spec in value)

    @model_validator(mode="after")
    def _check_offline_alone(self) -> ModelSettings:
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


class AuthSettings(_Group):
    """How callers are authenticated (tenancy/credentials.py): AUTH_*, plus the local identity."""

    model_config = SettingsConfigDict(env_prefix="AUTH_")

    mode: AuthMode = Field(default="local", description="local | api_keys | jwt")
    local_user: str = Field(default="local", min_length=1, validation_alias="LOCAL_USER")
    local_org: str = Field(default="local", min_length=1, validation_alias="LOCAL_ORG")
    api_keys: SecretStr | None = Field(default=None, description="api_keys mode: JSON {key: {user, org, role}}")
    jwt_secret: SecretStr | None = Field(default=None, description="jwt mode: HS256 shared secret")
    jwks_url: str | None = Field(default=None, description="jwt mode: JWKS URL for RS256/ES256 keys")
    jwks_file: Path | None = Field(default=None, description="jwt mode: JWKS file for RS256/ES256 keys")
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    org_claim: str = Field(default="org", min_length=1)
    role_claim: str = Field(default="role", min_length=1)

    @model_validator(mode="after")
    def _check_mode(self) -> AuthSettings:
        if self.mode == "api_keys":
            _ = self.principals  # parses and validates AUTH_API_KEYS
        if self.mode == "jwt":
            sources = [self.jwt_secret, self.jwks_url, self.jwks_file]
            if sum(source is not None for source in sources) != 1:
                raise ValueError(
                    "AUTH_MODE=jwt needs exactly one key source: AUTH_JWT_SECRET (HS256), "
                    "AUTH_JWKS_URL or AUTH_JWKS_FILE (RS256/ES256)"
                )
            if not self.jwt_issuer or not self.jwt_audience:
                raise ValueError("AUTH_MODE=jwt needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE")
            if self.jwks_file is not None and not self.jwks_file.is_file():
                raise ValueError(f"AUTH_JWKS_FILE={str(self.jwks_file)!r} is not a readable file")
        return self

    @functools.cached_property
    def principals(self) -> dict[str, ApiKeyPrincipal]:
        """AUTH_API_KEYS parsed: key -> principal. Raises ValueError naming the variable when malformed."""
        if self.api_keys is None:
            raise ValueError("AUTH_MODE=api_keys needs AUTH_API_KEYS (JSON: {key: {user, org, role}})")
        try:
            return _API_KEYS.validate_json(self.api_keys.get_secret_value())
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"][1:]) or "value"
            # The location's first part is a key: never echo it.
            raise ValueError(
                'AUTH_API_KEYS is not valid: it must be a JSON object {key: {"user": ..., "org": ..., '
                f'"role": "member" | "admin"}} ({where}: {first["msg"]})'
            ) from None


class MemorySettings(_Group):
    """Memory quotas and the PostgreSQL store (memory/): MEMORY_*, POSTGRES_URI."""

    model_config = SettingsConfigDict(env_prefix="MEMORY_")

    max_file_bytes: int = Field(default=64_000, ge=1, description="largest memory file the agent may write")
    max_files: int = Field(default=200, ge=1, description="most files per memory namespace")
    postgres_uri: SecretStr | None = Field(
        default=None, validation_alias="POSTGRES_URI", description="PostgreSQL store/checkpointer connection"
    )


class SandboxSettings(_Group):
    """Where `execute` runs and its limits (sandboxes/): SANDBOX_*."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_")

    provider: SandboxProviderName = Field(
        default_factory=default_sandbox_provider,
        description="Where `execute` runs: the embedded local provider or a cloud adapter "
        "(unset: langsmith on LangSmith Deployments, local elsewhere).",
    )
    root: str = Field(default=".sandboxes", min_length=1, description="Local provider: workspace directory.")
    isolation: Literal["bwrap", "none"] = Field(
        default="bwrap", description="Local provider: bubblewrap, or none (explicit opt-out, no isolation)."
    )
    idle_ttl_seconds: int = Field(default=3600, ge=60, description="Idle time after which a box is reaped.")
    reap_interval_seconds: int = Field(default=300, ge=0, description="Reaper period in the server; 0 = off.")
    timeout_seconds: int = Field(default=120, ge=1, description="Wall-clock limit of one command.")
    output_bytes: int = Field(default=256 * 1024, ge=1024, description="Output cap of one command.")
    memory_mb: int = Field(default=1024, ge=64, description="Address-space limit of one command.")
    max_processes: int = Field(default=256, ge=8, description="Process limit of one command.")
    max_file_mb: int = Field(default=100, ge=1, description="Largest file a command may write.")
    disk_mb: int = Field(default=1024, ge=1, description="Disk cap of one workspace.")
    warm_seconds: float = Field(
        default=60.0, ge=0, description="Local boxes: idle time after which a box's warm init stops; 0 = cold path."
    )
    warm_max: int = Field(default=32, ge=1, description="Local boxes: live warm inits per server process (LRU).")
    sync_max_file_bytes: int = Field(default=1024 * 1024, ge=1, description="Largest file synced in or out.")
    egress_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Networked boxes: comma-separated IPv4 CIDRs let through the egress block list "
        "(loopback, private and link-local ranges, this machine's addresses and subnets).",
    )
    state_file_max_bytes: int = Field(
        default=256 * 1024, ge=1, description="Largest sandbox file shown inline in thread state `files`."
    )
    state_total_max_bytes: int = Field(
        default=2 * 1024 * 1024, ge=0, description="Inline bytes of sandbox files in thread state `files`, in all."
    )
    template: str | None = Field(
        default=None, description="Cloud providers: the snapshot / image / blueprint new sandboxes start from."
    )
    server_url: str | None = Field(
        default=None, description="Reaper CLI: the LangGraph server asked whether threads/assistants exist."
    )

    @property
    def provider_detected(self) -> bool:
        """Whether `provider` is the platform's default (SANDBOX_PROVIDER unset on LangSmith Deployments)."""
        return "provider" not in self.model_fields_set and self.provider != "local"

    @field_validator("egress_allow", mode="before")
    @classmethod
    def _split_egress_allow(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("egress_allow")
    @classmethod
    def _check_egress_allow(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.IPv4Network(entry, strict=False)
            except ValueError as error:
                raise ValueError(f"{entry!r} is not an IPv4 address or CIDR (e.g. 10.1.2.0/24): {error}") from None
        return value


class PIISettings(_Group):
    """The PII guardrail's strategy per type: PII_<TYPE>. The fields, in apply order, ARE the type list."""

    model_config = SettingsConfigDict(env_prefix="PII_")

    secret: PIIStrategy = Field(default="redact", description="API keys, tokens, private keys.")
    email: PIIStrategy = Field(default="redact", description=PII_STRATEGY_HELP)
    credit_card: PIIStrategy = Field(default="mask", description=PII_STRATEGY_HELP)
    ip: PIIStrategy = Field(default="off", description=PII_STRATEGY_HELP)
    url: PIIStrategy = Field(default="off", description=PII_STRATEGY_HELP)


# The PII types the guardrail knows, in the order they are applied (secrets before the URLs they sit in).
PII_TYPES: tuple[str, ...] = tuple(PIISettings.model_fields)


class GuardrailSettings(_Group):
    """Limits, retries, PII and budgets (guardrails/; per-assistant overrides in AssistantSettings.guardrails)."""

    model_call_run_limit: int = Field(default=50, ge=0, description="Model calls per run; 0 = unlimited.")
    model_call_thread_limit: int = Field(default=0, ge=0, description="Model calls per thread; 0 = unlimited.")
    tool_call_run_limit: int = Field(default=100, ge=0, description="Tool calls per run; 0 = unlimited.")
    tool_call_thread_limit: int = Field(default=0, ge=0, description="Tool calls per thread; 0 = unlimited.")
    tool_call_limits: Annotated[dict[str, ToolLimit], NoDecode] = Field(
        default_factory=dict, description='Per-tool limits as JSON: {"task": {"run": 5, "thread": 20}}.'
    )
    model_timeout_seconds: float = Field(default=120.0, gt=0, description="Read timeout of one model request.")
    model_retry_max_retries: int = Field(default=3, ge=0, description="Retries of a transient model error.")
    model_retry_initial_delay: float = Field(default=1.0, ge=0, description="First backoff, seconds.")
    model_retry_backoff_factor: float = Field(default=2.0, ge=0, description="Backoff multiplier per retry.")
    model_retry_max_delay: float = Field(default=30.0, ge=0, description="Cap of one backoff (and Retry-After).")
    model_retry_budget_seconds: float = Field(default=90.0, ge=0, description="Total time spent waiting to retry.")
    network_tools: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated tool names retried on failure (tools that call the network)."
    )
    tool_retry_max_retries: int = Field(default=2, ge=0, description="Retries of a failing network tool.")
    pii: PIISettings = Field(default_factory=PIISettings, description="PII_<TYPE>: strategy per PII type.")
    token_budget_user_daily: int = Field(default=0, ge=0, description="Tokens per user per UTC day; 0 = unlimited.")
    token_budget_org_daily: int = Field(default=0, ge=0, description="Tokens per org per UTC day; 0 = unlimited.")
    token_budget_reservation_seconds: float = Field(
        default=900.0,
        gt=0,
        description="How long a model call's estimated tokens are held against the budgets (a call whose server "
        "died before it was charged stops counting after this); longer than your longest model call.",
    )

    @field_validator("network_tools", mode="before")
    @classmethod
    def _split_network_tools(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("tool_call_limits", mode="before")
    @classmethod
    def _parse_tool_call_limits(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as error:
                raise ValueError(
                    f'TOOL_CALL_LIMITS is not valid JSON ({error.msg}): use {{"tool": {{"run": 5, "thread": 20}}}}'
                ) from None
        return value


class ServerSettings(_Group):
    """Deployment-wide names and operations (server/, sandbox names, tracing)."""

    deployment_name: str = Field(default="deep-agent", min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    # Read by the langsmith library itself; validated here so "on without a key" fails at start-up.
    langsmith_tracing: bool = Field(default=False, description="Send traces to LangSmith (off: no network).")
    # Either name, as the langsmith library reads it: LangSmith Deployments give a deployment LANGCHAIN_API_KEY.
    langsmith_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"),
        description="LangSmith key, needed for tracing.",
    )
    # --- the HTTP edge (server/edge.py) ---
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body; a larger one answers 413."
    )
    operations_endpoints_open: bool = Field(
        default=False,
        description="Serve /metrics and the details of /healthz without an admin credential (private networks).",
    )

    @model_validator(mode="after")
    def _check_tracing_key(self) -> ServerSettings:
        if self.langsmith_tracing and not (self.langsmith_api_key and self.langsmith_api_key.get_secret_value()):
            raise ValueError("LANGSMITH_TRACING=true needs LANGSMITH_API_KEY: set the key, or LANGSMITH_TRACING=false")
        return self


class Settings(BaseModel):
    """All service settings, one group per concern; each group reads its own variables."""

    model_config = ConfigDict(frozen=True)

    models: ModelSettings = Field(default_factory=ModelSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _variable(group: type[BaseSettings], field: str) -> str:
    """The environment variable a field of `group` is read from."""
    info = group.model_fields.get(field)
    if info is None:  # pydantic reports an aliased field by its alias
        return field.upper()
    if isinstance(info.validation_alias, str):
        return info.validation_alias.upper()
    return f"{group.model_config.get('env_prefix', '')}{field}".upper()


def _load_group(group: type[_Group]) -> _Group:
    """One group, its nested groups first, so a bad value is reported with the group's variable names."""
    nested: dict[str, BaseSettings] = {}
    for name, info in group.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, _Group):
            nested[name] = _load_group(info.annotation)
    try:
        return group(**nested)
    except ValidationError as error:
        raise ConfigurationError(f"invalid configuration: {_one_line(error, group)}") from None


def _one_line(error: ValidationError, group: type[BaseSettings]) -> str:
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:  # a check across fields: the message names the variables
        return message
    variable = ".".join([_variable(group, str(first["loc"][0])), *(str(part) for part in first["loc"][1:])]).upper()
    if variable.lower() in message.lower():
        return message
    if any(word in variable for word in ("SECRET", "KEY", "TOKEN", "PASSWORD")):
        return f"{variable}: {message}"
    return f"{variable}: {message} (got {first.get('input')!r})"


def load_settings() -> Settings:
    """Read and validate settings now; raise `ConfigurationError` with one clear line."""
    settings = Settings.model_validate(
        {name: _load_group(info.annotation) for name, info in Settings.model_fields.items()}  # type: ignore[arg-type]
    )
    _ = settings.models.primary_model
    return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, loaded on first use (at import of `src/agent.py`)."""
    return load_settings()
