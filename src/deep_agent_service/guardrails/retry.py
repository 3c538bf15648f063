"""Model retry on transient provider errors, honouring Retry-After, within a total time budget.

langchain's `ModelRetryMiddleware` neither reads `Retry-After` nor bounds the total wait, and by
default (`on_failure="continue"`) turns the final error into an AI message, which reads like a
real answer. `TransientModelRetry` keeps its parameters and backoff formula but: retries only
transient errors (429, 5xx, timeouts, connection errors), waits at least what the provider asked
for, stops when the time budget would be exceeded, and then RAISES `ModelUnavailableError`, so
the run ends in the error state and the client sees why. The provider SDK's own retries are off
(`max_retries=0` in `models.py`) so attempts are not multiplied.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import ModelRetryMiddleware, ToolRetryMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.exceptions import ModelError
from langgraph.errors import GraphBubbleUp

from deep_agent_service.errors import ServiceError
from deep_agent_service.guardrails.config import RetryPolicy
from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.guardrails.streaming import abandoned_message_id
from deep_agent_service.private_apis import calculate_delay

_TRANSIENT_STATUS = frozenset({408, 409, 429})


class ModelUnavailableError(ServiceError, RuntimeError):
    """The model kept failing with transient errors until the retries or the time budget ran out."""


def status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _sdk_connection_errors() -> tuple[type[BaseException], ...]:
    """Connection/timeout error classes of the provider SDKs that are installed (both are optional)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name in ("openai", "anthropic", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        for name in ("APIConnectionError", "TransportError", "TimeoutException"):
            cls = getattr(module, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: rate limits, server errors, timeouts and connection failures; nothing else."""
    if isinstance(exc, ModelError):
        return exc.is_retryable
    status = status_code(exc)
    if status is not None:
        return status in _TRANSIENT_STATUS or status >= 500
    return isinstance(exc, _sdk_connection_errors())


def retry_after_seconds(exc: BaseException) -> float | None:
    """What the provider asked us to wait (`retry-after-ms`, `Retry-After` seconds or HTTP date)."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class TransientModelRetry(ModelRetryMiddleware[Any, Any]):
    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(
            max_retries=policy.max_retries,
            retry_on=is_transient,
            on_failure="error",
            backoff_factor=policy.backoff_factor,
            initial_delay=policy.initial_delay,
            max_delay=policy.max_delay,
            jitter=True,
        )
        self.budget_seconds = policy.budget_seconds

    def next_delay(self, retry_number: int, exc: BaseException) -> float:
        """Exponential backoff with jitter, never shorter than Retry-After (both capped by max_delay)."""
        backoff = calculate_delay(
            retry_number,
            backoff_factor=self.backoff_factor,
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            jitter=self.jitter,
        )
        asked = retry_after_seconds(exc)
        return min(self.max_delay, max(backoff, asked)) if asked is not None else backoff

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            try:
                return await handler(request)
            except GraphBubbleUp:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = self.next_delay(attempt, exc)
                waited = time.monotonic() - started
                out_of_retries = attempt >= self.max_retries
                out_of_time = waited + delay > self.budget_seconds
                if out_of_retries or out_of_time:
                    reason = "retries" if out_of_retries else f"time budget ({self.budget_seconds:g}s)"
                    report_trip(
                        request.runtime,
                        "retry",
                        "gave_up",
                        attempts=attempt + 1,
                        error=type(exc).__name__,
                        status=status_code(exc),
                        reason=reason,
                        abandoned_message_id=abandoned_message_id(exc),
                    )
                    raise ModelUnavailableError(
                        f"the model failed {attempt + 1} time(s) with transient errors and the {reason} ran out "
                        f"(last: {type(exc).__name__}: {exc}); the provider is down or rate-limiting: try again "
                        "later, or configure FALLBACK_MODELS"
                    ) from exc
                report_trip(
                    request.runtime,
                    "retry",
                    "retrying",
                    attempt=attempt + 1,
                    error=type(exc).__name__,
                    status=status_code(exc),
                    retry_after=retry_after_seconds(exc),
                    delay=round(delay, 3),
                    # a reply cut off mid-stream: the client drops the partial message with this id
                    abandoned_message_id=abandoned_message_id(exc),
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")


class NetworkToolRetry(ToolRetryMiddleware):
    """Retries only the tools named in NETWORK_TOOLS, only on transient errors, and reports each failure.

    After the last try the error goes back to the model as an error ToolMessage
    (`on_failure="continue"`): a tool failing is something the model can explain or work around,
    unlike the model itself failing.
    """

    def __init__(self, tools: tuple[str, ...], max_retries: int, policy: RetryPolicy) -> None:
        super().__init__(
            max_retries=max_retries,
            tools=list(tools),
            retry_on=is_transient,
            on_failure="continue",
            backoff_factor=policy.backoff_factor,
            initial_delay=policy.initial_delay,
            max_delay=policy.max_delay,
        )

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        async def reporting_handler(req: Any) -> Any:
            try:
                return await handler(req)
            except Exception as exc:
                if is_transient(exc):
                    report_trip(
                        req.runtime,
                        "tool_retry",
                        "attempt_failed",
                        tool=req.tool_call["name"],
                        error=type(exc).__name__,
                    )
                raise

        return await super().awrap_tool_call(request, reporting_handler)
