"""The agent's input/output schemas build: the server serves them to Studio and lists the agent as an
MCP tool only when they do (deepagents' `SkillMetadata` broke them on Python 3.11; see compat.py)."""

from __future__ import annotations

from deep_agent_service.builder import AssistantSettings, build_agent


def test_the_agent_publishes_input_and_output_schemas() -> None:
    agent = build_agent(AssistantSettings())
    assert "messages" in agent.get_input_jsonschema()["properties"]
    assert "messages" in agent.get_output_jsonschema()["properties"]
