"""Model fallback: FALLBACK_MODELS tried in order when the model call fails; the switch is reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import ModelFallbackMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel

from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.guardrails.streaming import abandoned_message_id


def model_label(model: Any) -> str:
    return str(getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__)


class ReportingModelFallback(ModelFallbackMiddleware[Any, Any]):
    """langchain's fallback chain; each switch to a fallback model is a visible trip."""

    def __init__(self, models: list[BaseChatModel]) -> None:
        super().__init__(models[0], *models[1:])

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        primary = request.model
        failures: list[str] = []
        abandoned: list[str] = []  # partial messages of replies cut off mid-stream, for the client to drop

        async def observed(attempt: ModelRequest[Any]) -> ModelResponse[Any]:
            if attempt.model is not primary:
                report_trip(
                    request.runtime,
                    "fallback",
                    "using_fallback",
                    model=model_label(attempt.model),
                    failed=list(failures),
                    abandoned_message_ids=list(abandoned),
                )
            try:
                return await handler(attempt)
            except Exception as exc:
                failures.append(f"{model_label(attempt.model)}: {type(exc).__name__}")
                if (message_id := abandoned_message_id(exc)) is not None:
                    abandoned.append(message_id)
                raise

        result = await super().awrap_model_call(request, observed)
        return result  # type: ignore[return-value]
