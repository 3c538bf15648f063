"""Authentication (who is calling) and authorization (what they may touch) for the LangGraph server."""

from __future__ import annotations

from typing import Any, cast

from langgraph_sdk import Auth

from deep_agent_service.identity import stamp_run_assistant
from deep_agent_service.settings import Settings, get_settings


def local_user(settings: Settings) -> dict[str, Any]:
    return {
        "identity": settings.local_user,
        "org": settings.local_org,
        "role": "admin",
        "display_name": settings.local_user,
        "permissions": ["role:admin"],
    }


def build_auth(settings: Settings | None = None) -> Auth:
    settings = settings or get_settings()
    auth = Auth()

    @auth.authenticate
    async def authenticate(headers: dict[Any, Any] | None = None) -> dict[str, Any]:
        return local_user(settings)

    @auth.on.threads.create_run
    async def stamp_assistant(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> None:
        stamp_run_assistant(cast("dict[str, Any]", value))  # Aegra: the run config has no assistant_id of its own

    return auth
