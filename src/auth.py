"""The server's `langgraph_sdk.Auth` object, registered in `langgraph.json`; all logic lives in tenancy."""

from deep_agent_service.tenancy.handlers import build_auth

auth = build_auth()
