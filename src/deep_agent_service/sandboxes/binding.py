"""Lazy, replica-safe binding of a run to its sandbox: the agent's default backend is a proxy.

The compiled agent is cached and shared by every run, so the proxy holds no per-run state: on
each file or execute call it derives the sandbox NAME from the run's verified identity (thread or
assistant id, see provider.sandbox_name) and asks the provider for it. Nothing is created before a
run's first file or execute call; reads of state, schema fetches and conversations that never
touch files create nothing. Handles are cached by name only as an optimisation: the name is the
binding, so another replica or a restarted process finds the same box.

Failure classes:
- gone (deleted, expired): a fresh box is created, the call is retried once, and the agent is told
  in the tool result (`SandboxNoticeMiddleware` prepends the notice) that earlier files are lost;
- unreachable (provider error, timeout): the call fails with a clear error; the box is kept and
  nothing is recreated, because it may hold work.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from deepagents.backends.protocol import (
    DeleteResult,
    EditResult,
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
    GlobResult,
    GrepResult,
    LsResult,
    ReadResult,
    SandboxBackendProtocol,
    WriteResult,
)
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import ToolMessage

from deep_agent_service.hooks import ToolHandler, ToolResult
from deep_agent_service.sandboxes.errors import SandboxError, SandboxGoneError
from deep_agent_service.sandboxes.local import run_sync
from deep_agent_service.sandboxes.provider import SandboxProvider, SandboxScope, sandbox_labels, sandbox_name
from deep_agent_service.tenancy.identity import RunIdentity, encode_part, identity_from_runtime

logger = logging.getLogger("deep_agent_service.sandboxes")

T = TypeVar("T")
HANDLE_CACHE_SIZE = 256

BindListener = Callable[[SandboxBackendProtocol, "Target"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Target:
    """The sandbox one run uses: its name, labels and the identity it was derived from."""

    name: str
    labels: Mapping[str, str]
    identity: RunIdentity


def box_user(identity: RunIdentity) -> str:
    """`<org>/<user>`, each part encoded (never containing `/`): who an assistant-scoped box belongs to."""
    return f"{encode_part(identity.org)}/{encode_part(identity.user)}"


def current_identity() -> RunIdentity:
    """The verified identity of the run executing now (thread and assistant ids included)."""
    from langgraph.runtime import get_runtime

    try:
        runtime: Any = get_runtime()
    except RuntimeError:
        runtime = None
    return identity_from_runtime(runtime)


class LazySandboxBackend(SandboxBackendProtocol):
    """A `SandboxBackendProtocol` that resolves the run's sandbox on first use (see module doc)."""

    def __init__(
        self,
        scope: SandboxScope,
        provider: Callable[[], SandboxProvider],
        *,
        deployment: str,
        ttl_seconds: int,
    ) -> None:
        if scope is SandboxScope.NONE:
            raise ValueError("sandbox_scope 'none' uses the thread's scratch state, not a sandbox")
        self.scope = scope
        self._provider = provider
        self._deployment = deployment
        self._ttl = ttl_seconds
        self._provider_instance: SandboxProvider | None = None
        self._handles: OrderedDict[str, SandboxBackendProtocol] = OrderedDict()
        self._notices: dict[str, list[str]] = {}
        self.listeners: list[BindListener] = []

    @property
    def id(self) -> str:
        return f"lazy-{self.scope.value}-sandbox"

    # --- binding ---

    async def provider(self) -> SandboxProvider:
        """The provider, built on first use in a worker thread (building one may probe bubblewrap)."""
        if self._provider_instance is None:
            self._provider_instance = await asyncio.to_thread(self._provider)
        return self._provider_instance

    async def target(self, identity: RunIdentity | None = None) -> Target:
        identity = identity or current_identity()
        owner = identity.thread_id if self.scope is SandboxScope.THREAD else identity.assistant_id
        if not owner:
            raise SandboxError(
                f"this run has no {self.scope.value} id, so it has no {self.scope.value}-scoped sandbox "
                "(run the agent on a thread through the server)"
            )
        provider = await self.provider()
        # an assistant's box is per user: it receives that user's private memory (see sync.py)
        user = box_user(identity) if self.scope is SandboxScope.ASSISTANT else None
        return Target(
            name=sandbox_name(self._deployment, self.scope, owner, provider.name_rules, user=user),
            labels=sandbox_labels(self._deployment, self.scope, owner, user=user),
            identity=identity,
        )

    def has_notices(self) -> bool:
        return bool(self._notices)

    def pop_notices(self, name: str) -> list[str]:
        return self._notices.pop(name, [])

    def _notify(self, name: str, text: str) -> None:
        self._notices.setdefault(name, []).append(text)

    async def resolve(self, target: Target | None = None) -> tuple[SandboxBackendProtocol, Target]:
        """The run's sandbox, created if absent, with the bind listeners run; raises `SandboxError` subclasses."""
        target = target or await self.target()
        sandbox = await self._acquire(target)
        for listener in self.listeners:
            await listener(sandbox, target)
        return sandbox, target

    async def _acquire(self, target: Target) -> SandboxBackendProtocol:
        sandbox = self._handles.get(target.name)
        if sandbox is None:
            acquired = await (await self.provider()).get_or_create(target.name, target.labels, self._ttl)
            if acquired.replaced:
                self._notify(
                    target.name,
                    f"[sandbox notice: the previous sandbox of this {self.scope.value} was {acquired.replaced}; "
                    "a fresh, empty one was created, and files from before are lost]",
                )
            sandbox = acquired.sandbox
            self._handles[target.name] = sandbox
            while len(self._handles) > HANDLE_CACHE_SIZE:
                self._handles.popitem(last=False)
        return sandbox

    async def _call(self, operation: Callable[[SandboxBackendProtocol], Awaitable[T]], fail: Callable[[str], T]) -> T:
        try:
            target = await self.target()
            sandbox = await self._acquire(target)
        except SandboxError as error:
            return fail(f"Error: no sandbox is available for this run: {error}")
        try:
            # the bind listeners (file sync) already use the box: their failures are the box's
            for listener in self.listeners:
                await listener(sandbox, target)
            return await operation(sandbox)
        except SandboxGoneError as gone:
            return await self._replace(target, gone, operation, fail)
        except SandboxError as error:
            logger.warning("sandbox %s unreachable: %s", target.name, error)
            return fail(
                f"Error: the sandbox is unreachable right now ({error}). It was kept, with its files; try again later"
            )

    async def _replace(
        self,
        target: Target,
        gone: SandboxGoneError,
        operation: Callable[[SandboxBackendProtocol], Awaitable[T]],
        fail: Callable[[str], T],
    ) -> T:
        """Only a provider's definite "gone" replaces a box; everything else keeps the binding."""
        self._handles.pop(target.name, None)
        told = len(self._notices.get(target.name, []))
        try:
            sandbox, _ = await self.resolve(target)
            if len(self._notices.get(target.name, [])) == told:  # the provider did not say why
                self._notify(
                    target.name,
                    f"[sandbox notice: the sandbox of this {self.scope.value} is gone ({gone}); "
                    "a fresh, empty one was created, and files from before are lost]",
                )
            return await operation(sandbox)
        except SandboxError as error:
            return fail(f"Error: the sandbox was gone and a fresh one could not be used: {error}")

    # --- execute ---

    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: ASYNC109
        def fail(message: str) -> ExecuteResponse:
            return ExecuteResponse(output=message, exit_code=None)

        return await self._call(lambda sb: sb.aexecute(command, timeout=timeout), fail)

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        return run_sync(self.aexecute(command, timeout=timeout))

    # --- file operations: the same sandbox, resolved the same way ---

    async def als(self, path: str) -> LsResult:
        return await self._call(lambda sb: sb.als(path), lambda m: LsResult(error=m))

    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return await self._call(lambda sb: sb.aread(file_path, offset, limit), lambda m: ReadResult(error=m))

    async def agrep(
        self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None
    ) -> GrepResult:
        return await self._call(
            lambda sb: sb.agrep(pattern, path, glob, max_count=max_count), lambda m: GrepResult(error=m)
        )

    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:
        return await self._call(lambda sb: sb.aglob(pattern, path), lambda m: GlobResult(error=m))

    async def awrite(self, file_path: str, content: str) -> WriteResult:
        return await self._call(lambda sb: sb.awrite(file_path, content), lambda m: WriteResult(error=m))

    async def aedit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        return await self._call(
            lambda sb: sb.aedit(file_path, old_string, new_string, replace_all), lambda m: EditResult(error=m)
        )

    async def adelete(self, file_path: str) -> DeleteResult:
        return await self._call(lambda sb: sb.adelete(file_path), lambda m: DeleteResult(error=m))

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return await self._call(
            lambda sb: sb.aupload_files(files), lambda m: [FileUploadResponse(path=p, error=m) for p, _ in files]
        )

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return await self._call(
            lambda sb: sb.adownload_files(paths), lambda m: [FileDownloadResponse(path=p, error=m) for p in paths]
        )

    def ls(self, path: str) -> LsResult:
        return run_sync(self.als(path))

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return run_sync(self.aread(file_path, offset, limit))

    def grep(
        self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None
    ) -> GrepResult:
        return run_sync(self.agrep(pattern, path, glob, max_count=max_count))

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:
        return run_sync(self.aglob(pattern, path))

    def write(self, file_path: str, content: str) -> WriteResult:
        return run_sync(self.awrite(file_path, content))

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        return run_sync(self.aedit(file_path, old_string, new_string, replace_all))

    def delete(self, file_path: str) -> DeleteResult:
        return run_sync(self.adelete(file_path))

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return run_sync(self.aupload_files(files))

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return run_sync(self.adownload_files(paths))


class SandboxNoticeMiddleware(AgentMiddleware[Any, Any]):
    """Puts sandbox notices (a gone box was replaced) at the top of the tool result that caused them."""

    def __init__(self, backend: LazySandboxBackend) -> None:
        super().__init__()
        self.backend = backend

    async def awrap_tool_call(self, request: ToolCallRequest, handler: ToolHandler) -> ToolResult:
        result = await handler(request)
        if not self.backend.has_notices():  # the common case: no box was replaced, nothing to resolve
            return result
        try:
            name = (await self.backend.target()).name
        except (SandboxError, PermissionError):
            return result
        notices = self.backend.pop_notices(name)
        if notices and isinstance(result, ToolMessage) and isinstance(result.content, str):
            result.content = "\n".join(notices) + "\n" + result.content
        return result
