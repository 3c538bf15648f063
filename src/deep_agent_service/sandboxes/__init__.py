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
from deep_agent_service.sandboxes.files_state import SandboxFilesState
from deep_agent_service.sandboxes.provider import SandboxScope
from deep_agent_service.sandboxes.registry import get_provider
from deep_agent_service.sandboxes.sync import DEFAULT_SYNCED_MOUNTS, SandboxFileSync, SyncedMount
from deep_agent_service.settings import get_settings

__all__ = ["SandboxParts", "SandboxScope", "SyncedMount", "sandbox_parts"]


@dataclass(frozen=True, slots=True)
class SandboxParts:
    default: LazySandboxBackend | None
    middleware: tuple[AgentMiddleware[Any, Any], ...]


def sandbox_parts(
    scope: SandboxScope,
    *,
    network: bool = False,
    synced: tuple[SyncedMount, ...] = DEFAULT_SYNCED_MOUNTS,
    memory_prefixes: tuple[str, ...] = (),
) -> SandboxParts:
    """The default backend and middleware for one assistant's sandbox settings.

    `synced` are the memory mounts copied into the sandbox when a run binds it (and, where
    `write_back`, copied back to the store after the run): only the mounts the assistant has.
    `memory_prefixes` (the assistant's mounts) are not scratch files: thread state `files` leaves them out."""
    if scope is SandboxScope.NONE:
        return SandboxParts(default=None, middleware=())
    settings = get_settings()
    backend = LazySandboxBackend(
        scope,
        lambda: get_provider(network=network),
        deployment=settings.server.deployment_name,
        ttl_seconds=settings.sandbox.idle_ttl_seconds,
    )
    return SandboxParts(
        default=backend,
        middleware=(
            SandboxNoticeMiddleware(backend),
            SandboxFileSync(backend, mounts=synced, max_file_bytes=settings.sandbox.sync_max_file_bytes),
            SandboxFilesState(
                backend,
                hidden=tuple(dict.fromkeys((*memory_prefixes, *(mount.prefix for mount in synced)))),
                file_max_bytes=settings.sandbox.state_file_max_bytes,
                total_max_bytes=settings.sandbox.state_total_max_bytes,
            ),
        ),
    )
