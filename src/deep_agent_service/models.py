"""Model specs (`provider:name` or `offline`) to chat models, built once per spec and reused."""

from __future__ import annotations

import functools

from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.offline_model import OfflineChatModel
from deep_agent_service.settings import OFFLINE_MODEL, PROVIDER_EXTRAS, get_settings


@functools.cache
def chat_model(spec: str) -> BaseChatModel:
    """The chat model for a spec. Provider settings such as `OPENAI_BASE_URL` come from the environment."""
    if spec == OFFLINE_MODEL:
        return OfflineChatModel()
    provider = spec.partition(":")[0]
    try:
        # Retries are the guardrails' job (guardrails/retry.py): the SDK's own would multiply them.
        timeout = get_settings().guardrails.model_timeout_seconds
        if provider == "openai":
            # The Responses API is not what OpenAI-compatible servers speak; chat completions is.
            # Usage in streamed replies feeds the token budgets.
            return init_chat_model(spec, use_responses_api=False, stream_usage=True, max_retries=0, timeout=timeout)
        return init_chat_model(spec, max_retries=0, timeout=timeout)
    except ImportError as error:
        extra = PROVIDER_EXTRAS.get(provider)
        hint = f"pip install 'deep-agent-service[{extra}]'" if extra else f"install langchain-{provider}"
        raise ConfigurationError(f"model {spec!r} needs the {provider} integration: {hint}") from error


def is_offline(model: BaseChatModel) -> bool:
    return isinstance(model, OfflineChatModel)
