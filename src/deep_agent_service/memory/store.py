"""A `StoreBackend` that records who wrote each memory file and enforces per-namespace quotas.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from deepagents.backends import StoreBackend
from deepagents.backends.protocol import (
    EditResult,
    FileData,
    FileDownloadResponse,
    GlobResult,
    GrepResult,
    LsResult,
    WriteResult,
)
from deepagents.backends.utils import file_data_to_string
from langgraph.runtime import get_runtime
from langgraph.store.base import BaseStore, GetOp, Item

from deep_agent_service.memory.writes import MemoryQuotaError, check_quota, stamp, stamped
from deep_agent_service.runs import run_id
from deep_agent_service.tenancy.identity import IdentityError, identity_from_runtime

T = TypeVar("T")
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
    """`StoreBackend` plus provenance on every write and limits on file size and file count."""

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
        return await self._on_snapshot(lambda: self.ls(path))

    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:
        return await self._on_snapshot(lambda: self.glob(pattern, path))

    async def agrep(
        self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None
    ) -> GrepResult:
        return await self._on_snapshot(lambda: self.grep(pattern, path, glob, max_count=max_count))

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

    async def awrite(self, file_path: str, content: str) -> WriteResult:
        current = await self._get_store().aget(self._get_namespace(), file_path)
        size = len(content.encode("utf-8"))
        if error := await self._over_quota(file_path, size, creating=current is None):
            return WriteResult(error=error)
        return await super().awrite(file_path, content)

    async def aedit(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
    ) -> EditResult:
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
