"""Visible trips: every guardrail that acts tells the client (custom stream event) and the log.

Clients read the events with `stream_mode="custom"`; each is a small typed payload such as
`{"type": "guardrail", "guardrail": "retry", "action": "retrying", "detail": {...}}`. Details never
carry the data a guardrail protects (no PII values, no prompt text). A trip inside a `task`
subagent carries `detail["subagent"]` (its name) and goes to the delegating run's stream, so a
client sees it without streaming subgraphs.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from deep_agent_service.guardrails.delegation import current_delegation
from deep_agent_service.runs import run_id

logger = logging.getLogger("deep_agent_service.guardrails")

GuardrailName = Literal["model_call_limit", "tool_call_limit", "retry", "fallback", "tool_retry", "pii", "budget"]


class GuardrailEvent(TypedDict):
    type: Literal["guardrail"]
    guardrail: GuardrailName
    action: str
    detail: dict[str, Any]


def _writer(runtime: Any) -> Any:
    writer = getattr(runtime, "stream_writer", None)
    if writer is not None:
        return writer
    from langgraph.config import get_stream_writer

    try:
        return get_stream_writer()
    except (RuntimeError, KeyError):  # outside a graph run (unit tests of a single middleware or tool)
        return None


def report_trip(runtime: Any, guardrail: GuardrailName, action: str, **detail: Any) -> GuardrailEvent:
    """Emit one guardrail event on the run's custom stream and log it with the run id."""
    delegation = current_delegation()
    if delegation is not None:
        detail = {**detail, "subagent": delegation.name}
    event = GuardrailEvent(type="guardrail", guardrail=guardrail, action=action, detail=detail)
    logger.warning("guardrail %s %s run_id=%s %s", guardrail, action, run_id(runtime=runtime), detail)
    writer = delegation.writer if delegation is not None and delegation.writer is not None else _writer(runtime)
    if writer is not None:
        writer(event)
    return event
