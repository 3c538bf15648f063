"""Every agent the service builds summarises through the guardrails: the main agent and each
subagent get the service's `SummarizationMiddleware` (deepagents' own, with a guarded summarizer)
in place of deepagents' default, once. `tests/integration/test_summarization_guardrails.py` shows
what that changes through the server."""

from __future__ import annotations

from typing import Any

import pytest
from deepagents import graph as deepagents_graph
from deepagents.middleware import subagents as deepagents_subagents
from deepagents.middleware.summarization import SummarizationMiddleware

from deep_agent_service.assistant_settings import AssistantSettings, SubagentSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.guardrails.summaries import GuardedSummarizer


def _summarizers(middleware: list[Any]) -> list[object]:
    return [m._lc_helper.summarizer for m in middleware if isinstance(m, SummarizationMiddleware)]


def test_the_agent_and_every_subagent_summarise_through_the_guardrails(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, list[Any]]] = []
    for module in (deepagents_graph, deepagents_subagents):
        original = module.create_agent

        def recording(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            built.append((kwargs.get("name") or "?", list(kwargs.get("middleware") or [])))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "create_agent", recording)
    researcher = SubagentSettings(name="researcher", description="looks things up", system_prompt="Research.")
    build_agent(AssistantSettings(instructions="summaries test", subagents=(researcher,)))

    assert len(built) >= 3, f"expected the agent, the general-purpose subagent and 'researcher': {built}"
    for name, middleware in built:
        summarizers = _summarizers(middleware)
        assert len(summarizers) == 1, f"{name}: {len(summarizers)} summarization middleware"
        # langchain wraps a callable summarizer in a RunnableLambda: ours is the function it calls
        function = getattr(summarizers[0], "afunc", None) or getattr(summarizers[0], "func", None)
        assert isinstance(function, GuardedSummarizer), f"{name} summarises with {summarizers[0]!r}"
