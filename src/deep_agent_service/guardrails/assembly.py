"""The ordered guardrail middleware for one assistant configuration (first = outermost).

Order: call limits (model, tool, per tool) -> model retry -> model fallback -> tool retry -> PII
-> budgets -> the stream guard. Limits sit outside retries, so a retried call counts once; retry wraps the fallback
chain, so one attempt tries the primary and then each fallback before backing off; PII sits
inside both, so every attempt's request is filtered whichever model answers; the budget is
checked right before each real provider call and charged with what that call used; the stream
guard is innermost, so the token stream of whichever model answers is PII-filtered as it streams
and a reply cut off mid-stream fails the attempt (and is retried) instead of being kept.
"""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware import AgentMiddleware

from deep_agent_service.guardrails.budgets import TokenBudget
from deep_agent_service.guardrails.config import GuardrailConfig, GuardrailOverrides, resolve_config
from deep_agent_service.guardrails.fallback import ReportingModelFallback
from deep_agent_service.guardrails.limits import model_call_limit, tool_call_limit
from deep_agent_service.guardrails.pii import PIIGuard
from deep_agent_service.guardrails.retry import NetworkToolRetry, TransientModelRetry
from deep_agent_service.guardrails.streaming import StreamGuard
from deep_agent_service.models import chat_model
from deep_agent_service.settings import Settings, get_settings


def middleware_for(config: GuardrailConfig) -> list[AgentMiddleware[Any, Any, Any]]:
    pii = PIIGuard(config.pii) if config.pii else None
    stack: list[AgentMiddleware[Any, Any, Any] | None] = [
        model_call_limit(config.model_call_run_limit, config.model_call_thread_limit),
        tool_call_limit(config.tool_call_run_limit, config.tool_call_thread_limit),
        *(tool_call_limit(run, thread, tool_name=name) for name, run, thread in config.tool_call_limits),
        TransientModelRetry(config.retry) if config.retry.max_retries else None,
        ReportingModelFallback([chat_model(spec) for spec in config.fallback_models])
        if config.fallback_models
        else None,
        NetworkToolRetry(config.network_tools, config.tool_retry_max_retries, config.retry)
        if config.network_tools and config.tool_retry_max_retries
        else None,
        pii,
        TokenBudget(
            user_daily=config.token_budget_user_daily,
            org_daily=config.token_budget_org_daily,
            reservation_seconds=config.token_budget_reservation_seconds,
        )
        if config.token_budget_user_daily or config.token_budget_org_daily
        else None,
        StreamGuard(pii.filter if pii else None) if pii or config.retry.max_retries else None,
    ]
    return [middleware for middleware in stack if middleware is not None]


def guardrail_middleware(
    overrides: GuardrailOverrides | None = None, settings: Settings | None = None
) -> list[AgentMiddleware[Any, Any, Any]]:
    """Guardrails from env settings merged with an assistant's overrides."""
    return middleware_for(resolve_config(settings or get_settings(), overrides))
