"""The rules every write of a memory file keeps, whoever writes it: the size and file-count quotas
(MEMORY_MAX_FILE_BYTES, MEMORY_MAX_FILES) and the provenance stamp `written_by`, set from the
verified identity only.

One place for every write path: the agent's file tools (`store.QuotaStoreBackend`), the HTTP
`/store` API (`tenancy.handlers`) and sandbox write-back all call `check_quota` and `stamp`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore

from deep_agent_service.errors import ServiceError
from deep_agent_service.settings import get_settings

PROVENANCE_KEY = "written_by"
# Fields of a file value (deepagents' FileData) that are bookkeeping, not content, when short.
_FILE_FIELDS = frozenset({"encoding", "created_at", "modified_at"})
_SHORT = 64


class MemoryQuotaError(ServiceError, ValueError):
    """A write would break a memory quota; the message names the limit's variable and what to do."""

    variable = ""
    http_status = 422


class MemoryFileTooLarge(MemoryQuotaError):
    variable = "MEMORY_MAX_FILE_BYTES"
    http_status = 413  # Content Too Large


class TooManyMemoryFiles(MemoryQuotaError):
    variable = "MEMORY_MAX_FILES"
    http_status = 409  # the namespace is full: delete or overwrite a file first


def stamp(user: str, org: str | None, run_id: str | None, *, via: str) -> dict[str, Any]:
    """The `written_by` value: who wrote (verified), from which run, through which path, and when."""
    return {"user": user, "org": org, "run_id": run_id, "via": via, "at": datetime.now(UTC).isoformat()}


def stamped(value: Mapping[str, Any], written_by: Mapping[str, Any]) -> dict[str, Any]:
    """`value` with the server's provenance; whatever `written_by` a client sent is replaced."""
    return {**value, PROVENANCE_KEY: dict(written_by)}


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes a stored value counts against MEMORY_MAX_FILE_BYTES: its content (a string or lines)
    plus every other field except the provenance and short file bookkeeping (encoding, times), so
    a large payload cannot hide beside an empty `content`."""
    content = value.get("content")
    if isinstance(content, list):
        content = "\n".join(str(line) for line in content)
    size = len(content.encode("utf-8")) if isinstance(content, str) else 0
    rest = {
        key: field
        for key, field in value.items()
        if key not in {"content", PROVENANCE_KEY}
        and not (key in _FILE_FIELDS and isinstance(field, str) and len(field) <= _SHORT)
    }
    if not isinstance(content, str) and "content" in value:
        rest["content"] = content
    if rest:
        size += len(json.dumps(rest, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))
    return size


async def check_quota(store: BaseStore, namespace: tuple[str, ...], path: str, size: int, *, creating: bool) -> None:
    """Raise `MemoryQuotaError` if writing `size` bytes at `path` breaks a quota of `namespace`."""
    limits = get_settings().memory
    if size > limits.max_file_bytes:
        raise MemoryFileTooLarge(
            f"{path} would be {size} bytes; memory files are limited to {limits.max_file_bytes} bytes "
            "(MEMORY_MAX_FILE_BYTES). Keep notes short."
        )
    if creating:
        existing = await store.asearch(namespace, limit=limits.max_files, offset=0)
        if len(existing) >= limits.max_files:
            raise TooManyMemoryFiles(
                f"this memory already holds {len(existing)} files, the limit "
                f"(MEMORY_MAX_FILES={limits.max_files}); edit or delete a file instead."
            )
