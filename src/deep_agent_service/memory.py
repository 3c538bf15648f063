"""Memory mounts: path prefix -> scope -> `StoreBackend`, composed with the thread's scratch space.

Namespaces are computed at call time from the run's verified identity (`identity.namespace_for`),
never from anything the model or the client writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deepagents.backends import CompositeBackend, StateBackend, StoreBackend
from deepagents.backends.protocol import BackendProtocol

from deep_agent_service.identity import Scope, identity_from_runtime, namespace_for


@dataclass(frozen=True, slots=True)
class Mount:
    """One persistent path prefix of the agent's filesystem."""

    prefix: str
    scope: Scope
    description: str


PRIVATE_MEMORIES = Mount("/memories/", Scope.PRIVATE, "your private notes about this user, for this assistant only")
DEFAULT_MOUNTS: tuple[Mount, ...] = (PRIVATE_MEMORIES,)


def scope_namespace(scope: Scope) -> Callable[[Any], tuple[str, ...]]:
    """A `StoreBackend` namespace factory for one scope, resolved from the runtime on every call."""

    def namespace(runtime: Any) -> tuple[str, ...]:
        return namespace_for(scope, identity_from_runtime(runtime))

    namespace.__name__ = f"{scope.value}_namespace"
    return namespace


def build_backend(
    mounts: tuple[Mount, ...] = DEFAULT_MOUNTS, default: BackendProtocol | None = None
) -> CompositeBackend:
    """The agent's filesystem: `default` (thread scratch) plus one store route per mount."""
    routes: dict[str, BackendProtocol] = {
        mount.prefix: StoreBackend(namespace=scope_namespace(mount.scope)) for mount in mounts
    }
    return CompositeBackend(default=default if default is not None else StateBackend(), routes=routes)


def describe_mounts(mounts: tuple[Mount, ...]) -> str:
    """A few lines for the system prompt: what each persistent path holds."""
    lines = [f"- `{mount.prefix}`: {mount.description}" for mount in mounts]
    return "Persistent memory (survives across conversations):\n" + "\n".join(lines)
