"""Guardrail configuration: service settings (env) merged with one assistant's overrides."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from deep_agent_service.settings import PIIStrategy, Settings

PII_TYPES: tuple[str, ...] = ("secret", "email", "credit_card", "ip", "url")


class GuardrailOverrides(BaseModel):
    """Per-assistant guardrail settings (`assistant_settings.guardrails`); unset fields keep the env value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_call_run_limit: int | None = Field(default=None, ge=0)
    model_call_thread_limit: int | None = Field(default=None, ge=0)
    tool_call_run_limit: int | None = Field(default=None, ge=0)
    tool_call_thread_limit: int | None = Field(default=None, ge=0)
    pii_email: PIIStrategy | None = None
    pii_credit_card: PIIStrategy | None = None
    pii_ip: PIIStrategy | None = None
    pii_url: PIIStrategy | None = None
    pii_secret: PIIStrategy | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    initial_delay: float
    backoff_factor: float
    max_delay: float
    budget_seconds: float


@dataclass(frozen=True, slots=True)
class GuardrailConfig:
    """Everything the assembly needs, already merged; 0 means unlimited for limits and budgets."""

    model_call_run_limit: int
    model_call_thread_limit: int
    tool_call_run_limit: int
    tool_call_thread_limit: int
    tool_call_limits: tuple[tuple[str, int, int], ...]  # (tool, run, thread)
    retry: RetryPolicy
    fallback_models: tuple[str, ...]
    network_tools: tuple[str, ...]
    tool_retry_max_retries: int
    pii: tuple[tuple[str, PIIStrategy], ...]  # (type, strategy) for types that are not "off", in apply order
    token_budget_user_daily: int
    token_budget_org_daily: int


def _pick(override: int | None, default: int) -> int:
    return default if override is None else override


def resolve_config(settings: Settings, overrides: GuardrailOverrides | None = None) -> GuardrailConfig:
    o = overrides or GuardrailOverrides()
    pii: list[tuple[str, PIIStrategy]] = []
    for pii_type in PII_TYPES:
        strategy: PIIStrategy = getattr(o, f"pii_{pii_type}") or getattr(settings, f"pii_{pii_type}")
        if strategy != "off":
            pii.append((pii_type, strategy))
    return GuardrailConfig(
        model_call_run_limit=_pick(o.model_call_run_limit, settings.model_call_run_limit),
        model_call_thread_limit=_pick(o.model_call_thread_limit, settings.model_call_thread_limit),
        tool_call_run_limit=_pick(o.tool_call_run_limit, settings.tool_call_run_limit),
        tool_call_thread_limit=_pick(o.tool_call_thread_limit, settings.tool_call_thread_limit),
        tool_call_limits=tuple(
            (name, limit.run, limit.thread) for name, limit in sorted(settings.tool_call_limits.items())
        ),
        retry=RetryPolicy(
            max_retries=settings.model_retry_max_retries,
            initial_delay=settings.model_retry_initial_delay,
            backoff_factor=settings.model_retry_backoff_factor,
            max_delay=settings.model_retry_max_delay,
            budget_seconds=settings.model_retry_budget_seconds,
        ),
        fallback_models=settings.fallback_models,
        network_tools=settings.network_tools,
        tool_retry_max_retries=settings.tool_retry_max_retries,
        pii=tuple(pii),
        token_budget_user_daily=settings.token_budget_user_daily,
        token_budget_org_daily=settings.token_budget_org_daily,
    )
