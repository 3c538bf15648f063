"""A `StoreBackend` that records who wrote each memory file and enforces per-namespace quotas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deepagents.backends import StoreBackend
from deepagents.backends.protocol import EditResult, FileData, WriteResult
from langgraph.config import get_config
from langgraph.runtime import get_runtime

from deep_agent_service.identity import IdentityError, identity_from_runtime
from deep_agent_service.settings import get_settings

PROVENANCE_KEY = "written_by"


def provenance() -> dict[str, Any]:
    """Who is writing now: the verified user, the run, and the time."""
    try:
        runtime: Any = get_runtime()
    except (RuntimeError, KeyError):
        runtime = None
    try:
        who = identity_from_runtime(runtime)
        user, org = who.user, who.org
    except IdentityError:
        user, org = "unknown", "unknown"
    try:
        run_id = get_config().get("configurable", {}).get("run_id") or getattr(
            getattr(runtime, "execution_info", None), "run_id", None
        )
    except RuntimeError:
        run_id = None
    return {"user": user, "org": org, "run_id": str(run_id) if run_id else None, "at": datetime.now(UTC).isoformat()}


class QuotaStoreBackend(StoreBackend):
    """`StoreBackend` plus provenance on every write and limits on file size and file count."""

    def _convert_file_data_to_store_value(self, file_data: FileData) -> dict[str, Any]:
        value = super()._convert_file_data_to_store_value(file_data)
        value[PROVENANCE_KEY] = provenance()
        return value

    async def _over_quota(self, file_path: str, new_size: int, creating: bool) -> str | None:
        settings = get_settings()
        if new_size > settings.memory_max_file_bytes:
            return (
                f"Error: {file_path} would be {new_size} bytes; memory files are limited to "
                f"{settings.memory_max_file_bytes} bytes (MEMORY_MAX_FILE_BYTES). Keep notes short."
            )
        if creating:
            existing = await self._get_store().asearch(self._get_namespace(), limit=settings.memory_max_files, offset=0)
            if len(existing) >= settings.memory_max_files:
                return (
                    f"Error: this memory already holds {len(existing)} files, the limit "
                    f"(MEMORY_MAX_FILES={settings.memory_max_files}); edit or delete a file instead."
                )
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
