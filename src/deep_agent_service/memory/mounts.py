"""Memory mounts: path prefix -> scope -> `StoreBackend`, composed with the thread's scratch space.

Namespaces are computed at call time from the run's verified identity (`identity.namespace_for`),
never from anything the model or the client writes. Every path is routed in its canonical form
(`memory.paths`), so a bare `/policies` IS the mount. Read-only mounts are enforced three times:
by `create_deep_agent(permissions=...)` for the agent's file tools (with a guard that says *why* a
write failed), by the mount's own store backend (whatever called it: subagents, sandbox sync), and
by the store auth handler for the HTTP `/store` API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from deepagents.backends import CompositeBackend, StateBackend
from deepagents.backends.protocol import (
    BackendProtocol,
    DeleteResult,
    EditResult,
    FileDownloadResponse,
    FileUploadResponse,
    ReadResult,
    WriteResult,
)

from deep_agent_service.memory.paths import PathRefusedError, canonical_path, mount_of
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


def store_backends(mounts: tuple[Mount, ...]) -> dict[str, QuotaStoreBackend]:
    """One store backend per mount (prefix -> backend): the mount's only write path, for tools and sandbox sync."""
    return {
        mount.prefix: QuotaStoreBackend(
            namespace=scope_namespace(mount.scope), prefix=mount.prefix, writable=mount.agent_writable
        )
        for mount in mounts
    }


class _Refusing(BackendProtocol):
    """Where a path that has no canonical form is routed: every operation fails with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = f"Error: {reason}"

    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return ReadResult(error=self.reason)

    async def awrite(self, file_path: str, content: str) -> WriteResult:
        return WriteResult(error=self.reason)

    async def aedit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        return EditResult(error=self.reason)

    async def adelete(self, file_path: str) -> DeleteResult:
        return DeleteResult(error=self.reason)

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return [FileUploadResponse(path=path, error="invalid_path") for path, _ in files]

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return [FileDownloadResponse(path=path, error="invalid_path") for path in paths]

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return ReadResult(error=self.reason)

    def write(self, file_path: str, content: str) -> WriteResult:
        return WriteResult(error=self.reason)

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        return EditResult(error=self.reason)

    def delete(self, file_path: str) -> DeleteResult:
        return DeleteResult(error=self.reason)

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return [FileUploadResponse(path=path, error="invalid_path") for path, _ in files]

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return [FileDownloadResponse(path=path, error="invalid_path") for path in paths]


class MountedBackend(CompositeBackend):
    """`CompositeBackend` that routes the CANONICAL path (`memory.paths`): `//policies/x` and
    `/./policies/x` reach `/policies/` like `/policies/x` does, and a path with no canonical form
    reaches no backend at all (every read, write, edit, delete and transfer of it fails)."""

    def _get_backend_and_key(self, key: str) -> tuple[BackendProtocol, str]:
        try:
            path = canonical_path(key)
        except PathRefusedError as refused:
            return _Refusing(str(refused)), key
        return super()._get_backend_and_key(path)


def build_backend(
    mounts: tuple[Mount, ...],
    default: BackendProtocol | None = None,
    stores: Mapping[str, QuotaStoreBackend] | None = None,
) -> CompositeBackend:
    """The agent's filesystem: `default` (thread scratch) plus one store route per mount (`stores`, if built)."""
    routes: dict[str, BackendProtocol] = dict(stores if stores is not None else store_backends(mounts))
    return MountedBackend(default=default if default is not None else StateBackend(), routes=routes)


def mount_at(mounts: tuple[Mount, ...], path: str) -> tuple[Mount, str] | None:
    """The mount a CANONICAL path is (key `/`) or lies under, with the path's key in it."""
    located = mount_of(path, [m.prefix for m in mounts])
    if located is None:
        return None
    return next(m for m in mounts if m.prefix == located[0]), located[1]


def describe_mounts(mounts: tuple[Mount, ...]) -> str:
    """A few lines for the system prompt: what each persistent path holds and who sees it."""
    lines = [mount.describe() for mount in mounts]
    return (
        "Persistent memory (survives across conversations); everything else is scratch for this "
        "conversation:\n" + "\n".join(lines)
    )
