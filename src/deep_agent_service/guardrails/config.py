"""Guardrail configuration: service settings (env) merged with one assistant's overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deep_agent_service.settings import PII_TYPES, PIIStrategy, Settings

PII_KEY_PREFIX = "pii_"


class GuardrailOverrides(BaseModel):
    """Per-assistant guardrail settings (`assistant_settings.guardrails`); unset fields keep the env value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_call_run_limit: int | None = Field(default=None, ge=0)
    model_call_thread_limit: int | None = Field(default=None, ge=0)
    tool_call_run_limit: int | None = Field(default=None, ge=0)
    tool_call_thread_limit: int | None = Field(default=None, ge=0)
    # Given as `pii_<type>` keys, like the PII_<TYPE> variables; held as sorted (type, strategy) pairs
    # so the settings stay hashable (the compiled-agent cache key).
    pii: tuple[tuple[str, PIIStrategy], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _fold_pii_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        pii = {key.removeprefix(PII_KEY_PREFIX): value for key, value in data.items() if key.startswith(PII_KEY_PREFIX)}
        unknown = sorted(set(pii) - set(PII_TYPES))
        if unknown:
            raise ValueError(
                f"unknown PII type {', '.join(PII_KEY_PREFIX + name for name in unknown)}: "
                f"use {', '.join(PII_KEY_PREFIX + name for name in PII_TYPES)}"
            )
        rest = {key: value for key, value in data.items() if not key.startswith(PII_KEY_PREFIX)}
        return {**rest, "pii": tuple(sorted(pii.items()))} if pii else rest


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
    token_budget_reservation_seconds: float


def _pick(override: int | None, default: int) -> int:
    return default if override is None else override


def resolve_config(settings: Settings, overrides: GuardrailOverrides | None = None) -> GuardrailConfig:
    o = overrides or GuardrailOverrides()
    pii: list[tuple[str, PIIStrategy]] = []
    chosen = dict(o.pii)
    for pii_type in PII_TYPES:
        strategy: PIIStrategy = chosen.get(pii_type) or getattr(settings.guardrails.pii, pii_type)
        if strategy != "off":
            pii.append((pii_type, strategy))
    return GuardrailConfig(
        model_call_run_limit=_pick(o.model_call_run_limit, settings.guardrails.model_call_run_limit),
        model_call_thread_limit=_pick(o.model_call_thread_limit, settings.guardrails.model_call_thread_limit),
        tool_call_run_limit=_pick(o.tool_call_run_limit, settings.guardrails.tool_call_run_limit),
        tool_call_thread_limit=_pick(o.tool_call_thread_limit, settings.guardrails.tool_call_thread_limit),
        tool_call_limits=tuple(
            (name, limit.run, limit.thread) for name, limit in sorted(settings.guardrails.tool_call_limits.items())
        ),
        retry=RetryPolicy(
            max_retries=settings.guardrails.model_retry_max_retries,
            initial_delay=settings.guardrails.model_retry_initial_delay,
            backoff_factor=settings.guardrails.model_retry_backoff_factor,
            max_delay=settings.guardrails.model_retry_max_delay,
            budget_seconds=settings.guardrails.model_retry_budget_seconds,
        ),
        fallback_models=settings.models.fallback_models,
        network_tools=settings.guardrails.network_tools,
        tool_retry_max_retries=settings.guardrails.tool_retry_max_retries,
        pii=tuple(pii),
        token_budget_user_daily=settings.guardrails.token_budget_user_daily,
        token_budget_org_daily=settings.guardrails.token_budget_org_daily,
        token_budget_reservation_seconds=settings.guardrails.token_budget_reservation_seconds,
    )
