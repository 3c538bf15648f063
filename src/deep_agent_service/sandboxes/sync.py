"""File sync between the LangGraph store and a run's sandbox, so scripts in the sandbox see memory.

Before the agent's first file or execute call of a run binds the sandbox, the assistant's skills
(`/skills/`) and the caller's memories (`/memories/`) are uploaded into it, at the same paths. After
the agent, memory files the run changed (or created) inside the sandbox are written back to the
store. Transfers go to the sandbox object itself (`aupload_files` / `adownload_files`): through
the agent's composite backend those paths would route back to the store.

Only changed files move: every file's SHA-256 is compared with what the sandbox last received
(remembered per sandbox id in this process; after a restart everything is uploaded once). Files
larger than the cap are skipped with a warning. Deletions are not propagated in either direction.
Nothing happens for runs that never touch the sandbox: the upload hangs off the lazy binding.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import shlex
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol
from deepagents.backends.utils import create_file_data
from langchain.agents.middleware import AgentMiddleware
from langgraph.store.base import BaseStore

from deep_agent_service.runs import current_config, run_id, thread_id
from deep_agent_service.sandboxes.binding import LazySandboxBackend, Target
from deep_agent_service.sandboxes.errors import SandboxError
from deep_agent_service.tenancy.identity import RunIdentity, Scope, identity_from_runtime, namespace_for

logger = logging.getLogger("deep_agent_service.sandboxes.sync")

RUNS_TRACKED = 1024
SEARCH_PAGE = 100


@dataclass(frozen=True, slots=True)
class SyncedMount:
    """A store-backed path mirrored into the sandbox."""

    prefix: str  # e.g. "/memories/"
    scope: Scope
    write_back: bool  # changes made in the sandbox go back to the store


DEFAULT_SYNCED_MOUNTS: tuple[SyncedMount, ...] = (
    SyncedMount("/skills/", Scope.SKILLS, write_back=False),
    SyncedMount("/memories/", Scope.PRIVATE, write_back=True),
)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _encode(content: bytes) -> dict[str, Any]:
    """Store value in StoreBackend's format (text as utf-8, anything else as base64)."""
    try:
        return dict(create_file_data(content.decode("utf-8")))
    except UnicodeDecodeError:
        return dict(create_file_data(base64.b64encode(content).decode("ascii"), encoding="base64"))


def _decode(value: dict[str, Any]) -> bytes:
    content = value.get("content", "")
    if isinstance(content, list):
        content = "\n".join(content)
    if value.get("encoding") == "base64":
        return base64.b64decode(content)
    return str(content).encode("utf-8")


@dataclass(slots=True)
class _Run:
    identity: RunIdentity
    depth: int = 1  # subagents share the run: only the outermost agent finishes it
    sandbox: SandboxBackendProtocol | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def run_key() -> str:
    config = current_config()
    if config is None:
        return "no-run"
    return run_id(config) or f"thread:{thread_id(config)}"


class SandboxFileSync(AgentMiddleware[Any, Any]):
    """Uploads skills and memories when a run binds its sandbox; writes changed memories back after."""

    def __init__(
        self,
        backend: LazySandboxBackend,
        *,
        mounts: tuple[SyncedMount, ...] = DEFAULT_SYNCED_MOUNTS,
        max_file_bytes: int = 1024 * 1024,
    ) -> None:
        super().__init__()
        self.mounts = mounts
        self.max_file_bytes = max_file_bytes
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        # sandbox id -> {path: sha256} of what that sandbox holds from (or gave to) the store
        self._synced: OrderedDict[str, dict[str, str]] = OrderedDict()
        backend.listeners.append(self._on_bind)

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        key = run_key()
        run = self._runs.get(key)
        if run is not None:
            run.depth += 1
            return None
        self._runs[key] = _Run(identity_from_runtime(runtime))
        while len(self._runs) > RUNS_TRACKED:  # runs that failed before aafter_agent
            self._runs.popitem(last=False)
        return None

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        key = run_key()
        run = self._runs.get(key)
        if run is None:
            return None
        run.depth -= 1
        if run.depth > 0:
            return None
        del self._runs[key]
        if run.sandbox is not None:
            try:
                await self.write_back(run.sandbox, run.identity, runtime.store)
            except SandboxError as error:  # the run's answer stands; the sandbox copy stays where it is
                logger.warning("memory sync back from sandbox %s failed: %s", run.sandbox.id, error)
        return None

    async def _on_bind(self, sandbox: SandboxBackendProtocol, target: Target) -> None:
        run = self._runs.get(run_key())
        if run is None or (run.sandbox is not None and run.sandbox.id == sandbox.id):
            return
        async with run.lock:  # parallel tool calls of one run upload once
            if run.sandbox is not None and run.sandbox.id == sandbox.id:
                return
            from langgraph.config import get_store

            # a new box, or a fresh one that replaced a gone box: it gets the files too
            await self.upload(sandbox, run.identity, get_store())
            run.sandbox = sandbox

    def _known(self, sandbox: SandboxBackendProtocol) -> dict[str, str]:
        known = self._synced.setdefault(sandbox.id, {})
        self._synced.move_to_end(sandbox.id)
        while len(self._synced) > RUNS_TRACKED:
            self._synced.popitem(last=False)
        return known

    async def _store_files(self, store: BaseStore, namespace: tuple[str, ...]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        offset = 0
        while True:
            items = await store.asearch(namespace, limit=SEARCH_PAGE, offset=offset)
            for item in items:
                if item.namespace == namespace:
                    files[item.key] = _decode(item.value)
            if len(items) < SEARCH_PAGE:
                return files
            offset += SEARCH_PAGE

    async def upload(self, sandbox: SandboxBackendProtocol, identity: RunIdentity, store: BaseStore) -> int:
        """Copy changed store files of every mount into the sandbox; returns how many moved."""
        known = self._known(sandbox)
        batch: list[tuple[str, bytes]] = []
        for mount in self.mounts:
            try:
                namespace = namespace_for(mount.scope, identity)
            except PermissionError:  # e.g. no assistant id: nothing to mirror for that scope
                continue
            for key, content in (await self._store_files(store, namespace)).items():
                path = mount.prefix.rstrip("/") + "/" + key.lstrip("/")
                if len(content) > self.max_file_bytes:
                    logger.warning("not syncing %s into the sandbox: %d bytes > cap", path, len(content))
                    continue
                if known.get(path) != digest(content):
                    batch.append((path, content))
        if not batch:
            return 0
        for response in await sandbox.aupload_files(batch):
            if response.error:
                logger.warning("sandbox upload of %s failed: %s", response.path, response.error)
        for path, content in batch:
            known[path] = digest(content)
        return len(batch)

    async def write_back(self, sandbox: SandboxBackendProtocol, identity: RunIdentity, store: BaseStore) -> int:
        """Write memory files changed inside the sandbox back to the store; returns how many."""
        known = self._known(sandbox)
        written = 0
        for mount in self.mounts:
            if not mount.write_back:
                continue
            listing = await sandbox.aexecute(f"find {shlex.quote(mount.prefix)} -type f 2>/dev/null")
            paths = [line for line in listing.output.splitlines() if line.startswith(mount.prefix)]
            if not paths:
                continue
            namespace = namespace_for(mount.scope, identity)
            for response in await sandbox.adownload_files(paths):
                content = response.content
                if content is None or known.get(response.path) == digest(content):
                    continue
                if len(content) > self.max_file_bytes:
                    logger.warning("not syncing %s back: %d bytes > cap", response.path, len(content))
                    continue
                key = "/" + response.path.removeprefix(mount.prefix)
                await store.aput(namespace, key, _encode(content))
                known[response.path] = digest(content)
                written += 1
        return written
