"""Memory mounts: path prefix -> scope -> `StoreBackend`, composed with the thread's scratch space.

Namespaces are computed at call time from the run's verified identity (`identity.namespace_for`),
never from anything the model or the client writes. Read-only mounts are enforced twice: by
`create_deep_agent(permissions=...)` for the agent's file tools (with a guard that says *why* a
write failed), and by the store auth handler for the HTTP `/store` API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from deepagents import FilesystemPermission
from deepagents.backends import CompositeBackend, StateBackend
from deepagents.backends.protocol import BackendProtocol

from deep_agent_service.memory.store import QuotaStoreBackend
from deep_agent_service.tenancy.identity import Scope, identity_from_runtime, namespace_for

MountName = Literal["memories", "profile", "shared", "policies", "skills"]


@dataclass(frozen=True, slots=True)
class Mount:
    """One persistent path prefix of the agent's filesystem."""

    name: MountName
    prefix: str
    scope: Scope
    holds: str
    visible_to: str
    agent_writable: bool

    def describe(self) -> str:
        access = "read-write" if self.agent_writable else "read-only"
        return f"- `{self.prefix}` ({access}): {self.holds}; visible to {self.visible_to}."


MOUNTS: dict[MountName, Mount] = {
    "memories": Mount(
        "memories",
        "/memories/",
        Scope.PRIVATE,
        "your private notes about this user for this assistant",
        "this user with this assistant only",
        True,
    ),
    "profile": Mount(
        "profile",
        "/profile/",
        Scope.USER,
        "the user's profile and preferences, shared by every assistant",
        "this user, with any assistant",
        True,
    ),
    "shared": Mount(
        "shared",
        "/shared/",
        Scope.ASSISTANT,
        "instructions and knowledge of this assistant",
        "every user of this assistant",
        False,
    ),
    "policies": Mount(
        "policies",
        "/policies/",
        Scope.ORG,
        "the organization's policies: follow them",
        "everyone in the organization",
        False,
    ),
    "skills": Mount(
        "skills",
        "/skills/",
        Scope.SKILLS,
        "skills of this assistant (each a folder with SKILL.md)",
        "every user of this assistant",
        False,
    ),
}
ALL_MOUNTS: tuple[MountName, ...] = tuple(MOUNTS)
WRITE_TOOLS = frozenset({"write_file", "edit_file", "delete"})


def mounts_for(names: tuple[MountName, ...], *, shared_writable: bool = False) -> tuple[Mount, ...]:
    """The mounts an assistant gets, in a stable order; `/shared/` is writable only if allowed."""
    chosen = []
    for name in ALL_MOUNTS:
        if name in names:
            mount = MOUNTS[name]
            if name == "shared" and shared_writable:
                mount = Mount(**{**_fields(mount), "agent_writable": True})
            chosen.append(mount)
    return tuple(chosen)


def _fields(mount: Mount) -> dict[str, Any]:
    return {field: getattr(mount, field) for field in Mount.__slots__}


def scope_namespace(scope: Scope) -> Callable[[Any], tuple[str, ...]]:
    """A `StoreBackend` namespace factory for one scope, resolved from the runtime on every call."""

    def namespace(runtime: Any) -> tuple[str, ...]:
        return namespace_for(scope, identity_from_runtime(runtime))

    namespace.__name__ = f"{scope.value}_namespace"
    return namespace


def build_backend(mounts: tuple[Mount, ...], default: BackendProtocol | None = None) -> CompositeBackend:
    """The agent's filesystem: `default` (thread scratch) plus one store route per mount."""
    routes: dict[str, BackendProtocol] = {
        mount.prefix: QuotaStoreBackend(namespace=scope_namespace(mount.scope)) for mount in mounts
    }
    return CompositeBackend(default=default if default is not None else StateBackend(), routes=routes)


def read_only_permissions(mounts: tuple[Mount, ...]) -> list[FilesystemPermission]:
    """Deny writes, edits and deletes under every read-only mount (the agent's file tools)."""
    prefixes = [f"{mount.prefix}**" for mount in mounts if not mount.agent_writable]
    return [FilesystemPermission(operations=["write"], paths=prefixes, mode="deny")] if prefixes else []


def read_only_mount(mounts: tuple[Mount, ...], path: str) -> Mount | None:
    """The read-only mount a path falls under, if any."""
    return next((m for m in mounts if not m.agent_writable and path.startswith(m.prefix)), None)


def describe_mounts(mounts: tuple[Mount, ...]) -> str:
    """A few lines for the system prompt: what each persistent path holds and who sees it."""
    lines = [mount.describe() for mount in mounts]
    return (
        "Persistent memory (survives across conversations); everything else is scratch for this "
        "conversation:\n" + "\n".join(lines)
    )
