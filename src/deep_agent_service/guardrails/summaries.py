"""The conversation summary call, under the same model-call guardrails as the agent's own calls.

deepagents compacts a conversation that nears the model's context window with a summary call made
inside its `SummarizationMiddleware`, not through the agent's model node, so no `wrap_model_call`
guardrail saw it. It is a conversation's largest call (the older history in one prompt), and it
went to the primary model alone: while the primary was down the run failed whatever the fallbacks,
it was never charged to the token budget, it retried under langchain's policy instead of the
service's, and its reply (which the agent reads instead of that history from then on) was not
PII-filtered.

`summarization_middleware` is deepagents' own middleware with its model-aware thresholds (and its
name, so it replaces the default in the agent and in each subagent), given a `summarizer` that sends
the prompt deepagents would send through the guardrails' `awrap_model_call` hooks, first outermost
as in the agent: retry, fallback, PII (request and reply), token budget, stream guard. Call limits
are not among them: they count the agent's model steps in its state, and a step summarises at most
once. A summary the budget refuses reaches no model and ends the run as any refused call does: the
budget's message is the step's reply, and the conversation is left as it was (nothing summarised).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from deepagents.backends.protocol import BackendProtocol
from deepagents.middleware.summarization import (
    DEEPAGENTS_DEFAULT_SUMMARY_PROMPT,
    SummarizationMiddleware,
    compute_summarization_defaults,
)
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ExtendedModelResponse, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, get_buffer_string
from langchain_core.runnables import RunnableConfig
from langgraph.constants import TAG_NOSTREAM
from langgraph.runtime import get_runtime

from deep_agent_service.guardrails.budgets import BudgetExhaustedError, refused_by_budget
from deep_agent_service.middleware_fusion import model_call_wrappers
from deep_agent_service.private_apis import chain_async_model_call_handlers

# As langchain tags its own summary calls: the `messages` stream does not show the summary's tokens.
SUMMARY_CALL_CONFIG: RunnableConfig = {"metadata": {"lc_source": "summarization"}, "tags": [TAG_NOSTREAM]}


async def _call_model(request: ModelRequest[Any]) -> ModelResponse[Any]:
    messages = [request.system_message, *request.messages] if request.system_message else list(request.messages)
    return ModelResponse(result=[await request.model.ainvoke(messages, config=SUMMARY_CALL_CONFIG)])


class GuardedSummarizer:
    """deepagents' summary prompt for the messages to summarise, answered through `guardrails`."""

    def __init__(self, model: BaseChatModel, guardrails: Sequence[AgentMiddleware[Any, Any, Any]]) -> None:
        self.model = model
        self._chain = chain_async_model_call_handlers(model_call_wrappers(guardrails))

    async def __call__(self, messages: list[AnyMessage]) -> str:
        prompt = DEEPAGENTS_DEFAULT_SUMMARY_PROMPT.format(messages=get_buffer_string(messages, format="xml"))
        request: ModelRequest[Any] = ModelRequest(
            model=self.model,
            messages=[HumanMessage(content=prompt.rstrip())],
            state={"messages": messages},
            runtime=get_runtime(),
        )
        if self._chain is None:
            response = await _call_model(request)
        else:
            response = (await self._chain(request, _call_model)).model_response
        reply = response.result[-1]
        if refused_by_budget(reply):
            raise BudgetExhaustedError(reply)
        return reply.text.strip()


class GuardedSummarization(SummarizationMiddleware):
    """deepagents' `SummarizationMiddleware` whose step ends with the budget's reply when it refuses the summary.

    The summary is made inside this middleware's model-call hook, before the agent's model is
    asked; a refused one leaves no summary event, so the conversation is kept whole.
    """

    @property
    def name(self) -> str:
        return "SummarizationMiddleware"  # deepagents' name: this replaces its default, in the agent and subagents

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        try:
            return await super().awrap_model_call(request, handler)
        except BudgetExhaustedError as refused:
            return ModelResponse(result=[refused.refusal])


def summarization_middleware(
    model: BaseChatModel, backend: BackendProtocol, guardrails: Sequence[AgentMiddleware[Any, Any, Any]]
) -> SummarizationMiddleware:
    """As deepagents' `create_summarization_middleware` builds it (the model's thresholds), guarded."""
    defaults = compute_summarization_defaults(model)
    return GuardedSummarization(
        model=model,
        backend=backend,
        trigger=defaults["trigger"],
        keep=defaults["keep"],
        trim_tokens_to_summarize=None,  # as deepagents' factory: the whole older history
        truncate_args_settings=defaults["truncate_args_settings"],
        summarizer=GuardedSummarizer(model, guardrails),
    )
