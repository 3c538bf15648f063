"""deep-agent-service: a deployable, multi-tenant Deep Agent for LangGraph servers."""

__version__ = "0.1.0"
