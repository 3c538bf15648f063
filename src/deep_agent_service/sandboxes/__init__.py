"""Sandboxes: named, isolated places where the agent's files live and its commands run.

`sandbox_parts(scope, network)` is what the builder plugs in: the agent's default backend (a lazy
proxy bound per run to the thread's or assistant's sandbox, or None for scope `none`) and the
middleware that goes with it (notices, file sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware

from deep_agent_service.sandboxes.binding import LazySandboxBackend, SandboxNoticeMiddleware
from deep_agent_service.sandboxes.provider import SandboxScope
from deep_agent_service.sandboxes.registry import get_provider
from deep_agent_service.sandboxes.sync import SandboxFileSync
from deep_agent_service.settings import get_settings

__all__ = ["SandboxParts", "SandboxScope", "sandbox_parts"]


@dataclass(frozen=True, slots=True)
class SandboxParts:
    default: LazySandboxBackend | None
    middleware: tuple[AgentMiddleware[Any, Any], ...]


def sandbox_parts(scope: SandboxScope, *, network: bool = False) -> SandboxParts:
    """The default backend and middleware for one assistant's sandbox settings."""
    if scope is SandboxScope.NONE:
        return SandboxParts(default=None, middleware=())
    settings = get_settings()
    backend = LazySandboxBackend(
        scope,
        lambda: get_provider(network=network),
        deployment=settings.deployment_name,
        ttl_seconds=settings.sandbox_idle_ttl_seconds,
    )
    return SandboxParts(
        default=backend,
        middleware=(
            SandboxNoticeMiddleware(backend),
            SandboxFileSync(backend, max_file_bytes=settings.sandbox_sync_max_file_bytes),
        ),
    )
