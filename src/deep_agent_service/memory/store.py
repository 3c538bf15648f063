"""A `StoreBackend` that records who wrote each memory file and enforces per-namespace quotas.

It is the one write path into a memory mount: the agent's file tools and the sandbox's write-back
both call it. Every write, edit, delete or upload is refused here, whatever called it (a subagent
without the service's middleware included), when its key is not canonical (`memory.paths`), when
it aims at the mount itself (key `/`, i.e. the bare `/memories`), or when the mount is read-only.

Reads are natively async: deepagents' `StoreBackend` has async `aread`/`awrite`/`aedit` only, and
its `als`/`aglob`/`agrep`/`adownload_files` run the sync method in a worker thread, where every
store call is a blocking round trip back to the server's event loop (the skills listing of every
new thread takes that path). Here the namespace's items are fetched with one async paginated
search (downloads: one batch of gets) and handed to the inherited sync logic, so results are
exactly those of the sync methods.

Every write (the agent's file tools, uploads, and sandbox write-back routed through this backend)
passes through `_convert_file_data_to_store_value`, which also applies the content filter the
service installs (`set_content_filter`: the deployment's PII rules) to text files. The filter is
injected, not imported: `memory/` does not depend on `guardrails/`.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from deepagents.backends import StoreBackend
from deepagents.backends.protocol import (
    DeleteResult,
    EditResult,
    FileData,
    FileDownloadResponse,
    FileUploadResponse,
    GlobResult,
    GrepResult,
    LsResult,
    ReadResult,
    WriteResult,
)
from deepagents.backends.store import NamespaceFactory
from deepagents.backends.utils import create_file_data, file_data_to_string
from langgraph.runtime import get_runtime
from langgraph.store.base import BaseStore, GetOp, Item

from deep_agent_service.memory.paths import PathRefusedError, canonical_path, mount_root_error
from deep_agent_service.memory.writes import MemoryQuotaError, check_quota, stamp, stamped
from deep_agent_service.runs import run_id
from deep_agent_service.tenancy.identity import IdentityError, identity_from_runtime

T = TypeVar("T")
R = TypeVar("R", ReadResult, WriteResult, EditResult, DeleteResult, LsResult, GlobResult, GrepResult)


def store_unavailable(action: str, error: Exception) -> str:
    """The tool error for a store that failed mid-operation: what failed, what did not change, what to do."""
    return (
        f"Error: the memory store is unavailable ({type(error).__name__}: {error}); {action} did not happen "
        "and the file, if it existed, is unchanged. Try again in a moment."
    )


async def _guarded(action: str, call: Awaitable[R], result: Callable[..., R]) -> R:
    """Await a store operation; a store failure becomes a tool error (`result(error=...)`), not a failed run.

    Validation errors (`ValueError`, `TypeError`: a bad path or namespace) still raise: they are bugs,
    not outages. A write is one `put`, so a failure leaves either the old version or the new one.
    """
    try:
        return await call
    except (ValueError, TypeError):
        raise
    except Exception as error:  # psycopg, pool timeouts, connection resets: whatever the store raises
        message = store_unavailable(action, error)
        # deepagents' read tool adds its own "Error: " in front of a read error
        return result(error=message.removeprefix("Error: ") if result is ReadResult else message)


ContentFilter = Callable[[str], str]
_CONTENT_FILTER: list[ContentFilter] = []  # at most one: set once by the builder
# (backend id, namespace, items) fetched by an async method for the sync logic it runs next
_PREFETCHED: ContextVar[tuple[int, tuple[str, ...], list[Item]] | None] = ContextVar("prefetched", default=None)


def provenance() -> dict[str, Any]:
    """Who is writing now: the run's verified user, the run, and the time."""
    try:
        runtime: Any = get_runtime()
    except (RuntimeError, KeyError):
        runtime = None
    try:
        who = identity_from_runtime(runtime)
        user, org = who.user, who.org
    except IdentityError:
        user, org = "unknown", "unknown"
    return stamp(user, org, run_id(runtime=runtime), via="agent")


def set_content_filter(content_filter: ContentFilter | None) -> None:
    """Install (or remove, with None) the filter every text file passes through before it is stored."""
    _CONTENT_FILTER[:] = [content_filter] if content_filter is not None else []


def filtered_content(content: str) -> str:
    return _CONTENT_FILTER[0](content) if _CONTENT_FILTER else content


class QuotaStoreBackend(StoreBackend):
    """`StoreBackend` plus provenance on every write and limits on file size and file count.

    `prefix` is the mount this backend serves (for messages and the mount-root refusal);
    `writable=False` refuses every change (read-only mounts: `/policies/`, `/skills/`, ...)."""

    def __init__(
        self,
        *,
        namespace: NamespaceFactory,
        store: BaseStore | None = None,
        prefix: str = "/",
        writable: bool = True,
    ) -> None:
        super().__init__(namespace=namespace, store=store)
        self.prefix = prefix
        self.writable = writable

    def _refusal(self, file_path: str, operation: str) -> str | None:
        """Why `operation` on the key `file_path` must not happen, or None (see the module doc)."""
        shown = self.prefix.rstrip("/") + file_path
        if not self.writable:
            return f"Error: {self.prefix} is read-only; {operation} on {shown} was refused and nothing changed."
        try:
            key = canonical_path(file_path)
        except PathRefusedError as refused:
            return f"Error: {refused}"
        if key == "/":
            return f"Error: {mount_root_error(self.prefix)}"
        if key != file_path:
            return f"Error: {shown!r} is not canonical; write {self.prefix.rstrip('/') + key!r} instead."
        return None

    # --- natively async reads (see the module docstring) ---

    def _search_store_paginated(
        self,
        store: BaseStore,
        namespace: tuple[str, ...],
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,  # StoreBackend's signature
        page_size: int = 100,
    ) -> list[Item]:
        prefetched = _PREFETCHED.get()
        if prefetched is not None and query is None and filter is None and prefetched[:2] == (id(self), namespace):
            return list(prefetched[2])
        return super()._search_store_paginated(store, namespace, query=query, filter=filter, page_size=page_size)

    @contextmanager
    def _prefetched(self, namespace: tuple[str, ...], items: list[Item]) -> Iterator[None]:
        token = _PREFETCHED.set((id(self), namespace, items))
        try:
            yield
        finally:
            _PREFETCHED.reset(token)

    async def _on_snapshot(self, call: Callable[[], T]) -> T:
        """Run a sync listing method on the namespace's items, fetched here without blocking."""
        store, namespace = self._get_store(), self._get_namespace()
        items = await self._asearch_store_paginated(store, namespace)
        with self._prefetched(namespace, items):
            return call()

    async def als(self, path: str) -> LsResult:
        return await _guarded(f"listing {path}", self._on_snapshot(lambda: self.ls(path)), LsResult)

    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:
        return await _guarded(f"glob {pattern}", self._on_snapshot(lambda: self.glob(pattern, path)), GlobResult)

    async def agrep(
        self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None
    ) -> GrepResult:
        search = self._on_snapshot(lambda: self.grep(pattern, path, glob, max_count=max_count))
        return await _guarded(f"grep {pattern}", search, GrepResult)

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """`download_files` with one batched store round trip for all paths."""
        if not paths:
            return []
        namespace = self._get_namespace()
        items = await self._get_store().abatch([GetOp(namespace, path) for path in paths])
        responses: list[FileDownloadResponse] = []
        for path, item in zip(paths, items, strict=True):
            if not isinstance(item, Item):
                responses.append(FileDownloadResponse(path=path, content=None, error="file_not_found"))
                continue
            file_data = self._convert_store_item_to_file_data(item)
            text = file_data_to_string(file_data)
            content = base64.standard_b64decode(text) if file_data["encoding"] == "base64" else text.encode("utf-8")
            responses.append(FileDownloadResponse(path=path, content=content, error=None))
        return responses

    # --- provenance and quotas ---

    def _convert_file_data_to_store_value(self, file_data: FileData) -> dict[str, Any]:
        value = super()._convert_file_data_to_store_value(file_data)
        if value.get("encoding", "utf-8") == "utf-8" and isinstance(value.get("content"), str):
            value["content"] = filtered_content(value["content"])
        return stamped(value, provenance())

    async def _over_quota(self, file_path: str, new_size: int, creating: bool) -> str | None:
        """The tool's error text if the write breaks a quota (the agent reads it and adapts)."""
        try:
            await check_quota(self._get_store(), self._get_namespace(), file_path, new_size, creating=creating)
        except MemoryQuotaError as error:
            return f"Error: {error}"
        return None

    # --- store outages: every file operation answers with a tool error instead of failing the run ---

    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return await _guarded(f"reading {file_path}", super().aread(file_path, offset, limit), ReadResult)

    async def awrite(self, file_path: str, content: str) -> WriteResult:
        return await _guarded(f"writing {file_path}", self._awrite(file_path, content), WriteResult)

    async def aedit(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
    ) -> EditResult:
        edit = self._aedit(file_path, old_string, new_string, replace_all)
        return await _guarded(f"editing {file_path}", edit, EditResult)

    async def adelete(self, file_path: str) -> DeleteResult:
        return await _guarded(f"deleting {file_path}", self._adelete(file_path), DeleteResult)

    async def _awrite(self, file_path: str, content: str) -> WriteResult:
        if refused := self._refusal(file_path, "write"):
            return WriteResult(error=refused)
        current = await self._get_store().aget(self._get_namespace(), file_path)
        size = len(content.encode("utf-8"))
        if error := await self._over_quota(file_path, size, creating=current is None):
            return WriteResult(error=error)
        return await super().awrite(file_path, content)

    async def _aedit(self, file_path: str, old_string: str, new_string: str, replace_all: bool) -> EditResult:
        if refused := self._refusal(file_path, "edit"):
            return EditResult(error=refused)
        current = await self._get_store().aget(self._get_namespace(), file_path)
        if current is not None and isinstance(current.value.get("content"), str):
            content: str = current.value["content"]
            occurrences = content.count(old_string) if replace_all else min(1, content.count(old_string))
            size = len(content.encode("utf-8")) + occurrences * (
                len(new_string.encode("utf-8")) - len(old_string.encode("utf-8"))
            )
            if error := await self._over_quota(file_path, size, creating=False):
                return EditResult(error=error)
        return await super().aedit(file_path, old_string, new_string, replace_all)

    async def _adelete(self, file_path: str) -> DeleteResult:
        if refused := self._refusal(file_path, "delete"):
            return DeleteResult(error=refused)
        return await super().adelete(file_path)

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Natively async uploads, each through the same refusals and quotas as a write."""
        responses: list[FileUploadResponse] = []
        for path, content in files:
            if self._refusal(path, "upload"):
                responses.append(FileUploadResponse(path=path, error="permission_denied"))
                continue
            current = await self._get_store().aget(self._get_namespace(), path)
            if await self._over_quota(path, len(content), creating=current is None):
                responses.append(FileUploadResponse(path=path, error="permission_denied"))
                continue
            try:
                file_data = create_file_data(content.decode("utf-8"))
            except UnicodeDecodeError:
                file_data = create_file_data(base64.standard_b64encode(content).decode("ascii"), encoding="base64")
            await self._get_store().aput(self._get_namespace(), path, self._convert_file_data_to_store_value(file_data))
            responses.append(FileUploadResponse(path=path, error=None))
        return responses

    # The sync forms (the server runs the async ones) get the same refusals.

    def write(self, file_path: str, content: str) -> WriteResult:
        refused = self._refusal(file_path, "write")
        return WriteResult(error=refused) if refused else super().write(file_path, content)

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        refused = self._refusal(file_path, "edit")
        return EditResult(error=refused) if refused else super().edit(file_path, old_string, new_string, replace_all)

    def delete(self, file_path: str) -> DeleteResult:
        refused = self._refusal(file_path, "delete")
        return DeleteResult(error=refused) if refused else super().delete(file_path)

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        if any(self._refusal(path, "upload") for path, _ in files):
            return [FileUploadResponse(path=path, error="permission_denied") for path, _ in files]
        return super().upload_files(files)
