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
once. A summary the budget refuses fails the run with the budget's message (`BudgetExhaustedError`)
and leaves the conversation as it was; an agent's own call is refused with a final message instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepagents.backends.protocol import BackendProtocol
from deepagents.middleware.summarization import (
    DEEPAGENTS_DEFAULT_SUMMARY_PROMPT,
    SummarizationMiddleware,
    create_summarization_middleware,
)
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
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
            raise BudgetExhaustedError(reply.text)
        return reply.text.strip()


def summarization_middleware(
    model: BaseChatModel, backend: BackendProtocol, guardrails: Sequence[AgentMiddleware[Any, Any, Any]]
) -> SummarizationMiddleware:
    return create_summarization_middleware(model, backend, summarizer=GuardedSummarizer(model, guardrails))
