"""File sync between the LangGraph store and a run's sandbox, so scripts in the sandbox see memory.

When a run binds its sandbox (its first file or execute call), every synced mount is mirrored
into the box at the same path: the mount directory is created (even when the store holds nothing
yet), changed files are uploaded, and files the store no longer holds are removed, so the box
starts the run with exactly the store's content. What the box then holds under each mount is the
run's *baseline* (path -> SHA-256), taken from inside the box.

After every `execute` call (and once more when the agent finishes, for commands a subagent ran)
the files of write-back mounts that differ from the baseline, i.e. that THIS run created or
changed, are written back through the mount's own store backend: the same canonical path, quota,
provenance (and PII) path as a tool write. What that path refuses (over `MEMORY_MAX_FILES` or
`MEMORY_MAX_FILE_BYTES`, a non-canonical name, the store unavailable) stays in the box only, and the
tool result says so; that version is not tried again later in the run (the next run's box starts
from the store again).

Whose memory: a box belongs to one user (thread boxes, and assistant boxes per user: see
`provider.sandbox_name`), the baseline is per run, and the write goes to the namespace of the
run's own verified identity, so one user's files never reach another user's memory, even after
a restart (nothing is remembered in the process between runs). Transfers go to the sandbox object
itself (`aupload_files` / `adownload_files`): through the agent's composite backend those paths
would route back to the store. Nothing happens for runs that never touch the sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import shlex
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from deepagents.backends.protocol import BackendProtocol, SandboxBackendProtocol
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import ToolMessage
from langgraph.store.base import BaseStore

from deep_agent_service.hooks import ToolHandler, ToolResult
from deep_agent_service.memory.paths import PathRefusedError, canonical_path, mount_of
from deep_agent_service.runs import current_config, run_id, thread_id
from deep_agent_service.sandboxes.binding import LazySandboxBackend, Target
from deep_agent_service.sandboxes.errors import SandboxError
from deep_agent_service.tenancy.identity import RunIdentity, Scope, identity_from_runtime, namespace_for

logger = logging.getLogger("deep_agent_service.sandboxes.sync")

RUNS_TRACKED = 1024
SEARCH_PAGE = 100
REMOVALS_PER_COMMAND = 50  # paths are at most 1024 characters: well below a command line's limit
NOTICE_PATHS = 5  # skipped files named one by one in a notice; the rest are counted

# Runs in the box: creates the mount directories, removes the listed files, and prints
# {path: sha256} of every regular file under the mounts (symlinks are neither followed nor listed).
_MANIFEST_SCRIPT = r"""
import hashlib, json, os, sys
request = json.load(sys.stdin)
for path in request["remove"]:
    try:
        os.unlink(path)
    except OSError:
        pass
found = {}
for top in request["dirs"]:
    os.makedirs(top, exist_ok=True)
    for root, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            except OSError:
                continue
            found[path] = digest.hexdigest()
print(json.dumps(found))
"""


class SandboxSyncError(SandboxError):
    """The box answered, but not with a file listing (e.g. no python3 in a cloud template): no sync this run."""


@dataclass(frozen=True, slots=True)
class SyncedMount:
    """A store-backed path mirrored into the sandbox.

    `backend`, for mounts whose changes in the box go back to the store, is the mount's own store
    backend (the one the agent's file tools use for this prefix): write-back goes through it, so
    quotas, provenance and PII apply exactly as to a tool write. None: only read into the box."""

    prefix: str  # e.g. "/memories/"
    scope: Scope
    backend: BackendProtocol | None = None

    @property
    def write_back(self) -> bool:
        return self.backend is not None

    @property
    def directory(self) -> str:
        return self.prefix.rstrip("/")


DEFAULT_SYNCED_MOUNTS: tuple[SyncedMount, ...] = (
    SyncedMount("/skills/", Scope.SKILLS),
    SyncedMount("/memories/", Scope.PRIVATE),
)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


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
    baseline: dict[str, str] = field(default_factory=dict)  # box path -> sha256 this run started from / wrote
    synced: bool = False  # the mirror worked: write-back may compare against the baseline
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def run_key() -> str:
    config = current_config()
    if config is None:
        return "no-run"
    return run_id(config) or f"thread:{thread_id(config)}"


def _skipped_notice(skipped: list[tuple[str, str]]) -> str:
    lines = [f"- {path}: {reason}" for path, reason in skipped[:NOTICE_PATHS]]
    if len(skipped) > NOTICE_PATHS:
        lines.append(f"- ... and {len(skipped) - NOTICE_PATHS} more files")
    return (
        f"[sandbox sync: {len(skipped)} file(s) changed in the sandbox were NOT saved to memory and exist "
        "only in the sandbox:\n" + "\n".join(lines) + "]"
    )


class SandboxFileSync(AgentMiddleware[Any, Any]):
    """Mirrors the mounts into a run's box when it binds; writes what the run changed back after each command."""

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
        backend.listeners.append(self._on_bind)

    # --- run lifecycle ---

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
        if run.sandbox is not None and run.synced:
            skipped = await self._write_back_logged(run)
            if skipped:
                logger.warning("%s", _skipped_notice(skipped))
        return None

    async def awrap_tool_call(self, request: ToolCallRequest, handler: ToolHandler) -> ToolResult:
        result = await handler(request)
        if request.tool_call["name"] != "execute":
            return result
        run = self._runs.get(run_key())
        if run is None or run.sandbox is None or not run.synced:
            return result
        skipped = await self._write_back_logged(run)
        if skipped and isinstance(result, ToolMessage) and isinstance(result.content, str):
            result.content = f"{result.content.rstrip()}\n{_skipped_notice(skipped)}"
        return result

    async def _write_back_logged(self, run: _Run) -> list[tuple[str, str]]:
        assert run.sandbox is not None
        try:
            async with run.lock:
                return await self.write_back(run)
        except SandboxError as error:  # the run's answer stands; the sandbox copy stays where it is
            logger.warning("memory sync back from sandbox %s failed: %s", run.sandbox.id, error)
            return []

    async def _on_bind(self, sandbox: SandboxBackendProtocol, target: Target) -> None:
        run = self._runs.get(run_key())
        if run is None or (run.sandbox is not None and run.sandbox.id == sandbox.id):
            return
        async with run.lock:  # parallel tool calls of one run upload once
            if run.sandbox is not None and run.sandbox.id == sandbox.id:
                return
            from langgraph.config import get_store

            # a new box, or a fresh one that replaced a gone box: it gets the files too
            try:
                run.baseline, run.synced = await self.mirror(sandbox, run.identity, get_store()), True
            except SandboxSyncError as error:  # the command still runs; memory is not mirrored this run
                logger.warning("memory sync into sandbox %s failed: %s", sandbox.id, error)
                run.baseline, run.synced = {}, False
            run.sandbox = sandbox

    # --- the two directions ---

    async def _manifest(
        self, sandbox: SandboxBackendProtocol, mounts: tuple[SyncedMount, ...], remove: list[str] | None = None
    ) -> dict[str, str]:
        """{box path: sha256} under `mounts` (created if absent), after removing `remove`."""
        remove = list(remove or [])
        # the request travels in the command line: long removal lists go in several commands
        while len(remove) > REMOVALS_PER_COMMAND:
            await self._run_manifest(sandbox, mounts, remove[:REMOVALS_PER_COMMAND])
            remove = remove[REMOVALS_PER_COMMAND:]
        return await self._run_manifest(sandbox, mounts, remove)

    async def _run_manifest(
        self, sandbox: SandboxBackendProtocol, mounts: tuple[SyncedMount, ...], remove: list[str]
    ) -> dict[str, str]:
        request = json.dumps({"dirs": [m.directory for m in mounts], "remove": remove})
        result = await sandbox.aexecute(
            f"printf '%s' {shlex.quote(request)} | python3 -c {shlex.quote(_MANIFEST_SCRIPT)}"
        )
        try:
            found = json.loads(result.output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise SandboxSyncError(f"listing the sandbox's memory files failed: {result.output[-300:]}") from None
        if not isinstance(found, dict):
            raise SandboxSyncError(f"listing the sandbox's memory files failed: {result.output[-300:]}")
        return {str(path): str(sha) for path, sha in found.items()}

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

    async def _wanted(
        self, identity: RunIdentity, store: BaseStore
    ) -> tuple[tuple[SyncedMount, ...], dict[str, bytes]]:
        """The mounts this run can mirror and every file they should hold in the box (box path -> bytes)."""
        mounts: list[SyncedMount] = []
        wanted: dict[str, bytes] = {}
        for mount in self.mounts:
            try:
                namespace = namespace_for(mount.scope, identity)
            except PermissionError:  # e.g. no assistant id: nothing to mirror for that scope
                continue
            mounts.append(mount)
            for key, content in (await self._store_files(store, namespace)).items():
                try:
                    path = canonical_path(mount.directory + "/" + key.lstrip("/"))
                except PathRefusedError as refused:
                    logger.warning("not syncing store key %r of %s into the sandbox: %s", key, mount.prefix, refused)
                    continue
                if path == mount.directory:
                    continue
                if len(content) > self.max_file_bytes:
                    logger.warning("not syncing %s into the sandbox: %d bytes > cap", path, len(content))
                    continue
                wanted[path] = content
        return tuple(mounts), wanted

    async def mirror(self, sandbox: SandboxBackendProtocol, identity: RunIdentity, store: BaseStore) -> dict[str, str]:
        """Make every mount in the box hold exactly the store's files; returns the baseline."""
        mounts, wanted = await self._wanted(identity, store)
        if not mounts:
            return {}
        present = await self._manifest(sandbox, mounts)
        uploads = [(path, content) for path, content in wanted.items() if present.get(path) != digest(content)]
        stale = [path for path in present if path not in wanted]
        if uploads:
            for response in await sandbox.aupload_files(uploads):
                if response.error:
                    logger.warning("sandbox upload of %s failed: %s", response.path, response.error)
        return await self._manifest(sandbox, mounts, remove=stale) if uploads or stale else present

    async def write_back(self, run: _Run) -> list[tuple[str, str]]:
        """Write what this run changed under write-back mounts to the store; returns (path, reason) skipped."""
        assert run.sandbox is not None
        mounts = tuple(m for m in self.mounts if m.write_back)
        if not mounts:
            return []
        now = await self._manifest(run.sandbox, mounts)
        changed = sorted(path for path, sha in now.items() if run.baseline.get(path) != sha)
        if not changed:
            return []
        skipped: list[tuple[str, str]] = []
        for response in await run.sandbox.adownload_files(changed):
            path, content = response.path, response.content
            if content is None:
                continue
            reason = await self._save(mounts, path, content)
            # Saved or refused, this version is settled: a refused one (store down, over quota) is
            # reported in this result, and a later pass of the same run (the next command, the run's
            # end) must not save it behind that report, or a retry writes the change twice. A further
            # change to the file differs from this digest and is written back as usual.
            run.baseline[path] = digest(content)
            if reason is not None:
                skipped.append((path, reason))
        return skipped

    async def _save(self, mounts: tuple[SyncedMount, ...], path: str, content: bytes) -> str | None:
        """Store one file through its mount's backend; the reason it was refused, or None."""
        if len(content) > self.max_file_bytes:
            return f"{len(content)} bytes is over the sync cap (SANDBOX_SYNC_MAX_FILE_BYTES={self.max_file_bytes})"
        try:
            canonical = canonical_path(path)
        except PathRefusedError as refused:
            return str(refused)
        located = mount_of(canonical, [m.prefix for m in mounts])
        mount = next((m for m in mounts if located and m.prefix == located[0]), None)
        if located is None or mount is None or mount.backend is None:
            return "not under a mount that is written back"
        key = located[1]
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            [uploaded] = await mount.backend.aupload_files([(key, content)])
            return None if uploaded.error is None else f"refused by the memory store ({uploaded.error})"
        written = await mount.backend.awrite(key, text)
        return written.error
