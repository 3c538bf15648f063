"""The embedded `local` provider: one workspace directory per sandbox, commands under bubblewrap.

Layout under `SANDBOX_ROOT` (one directory per sandbox, named by its deterministic name):

    <name>/meta.json   name, id, labels, TTL, creation time (written before the box is visible)
    <name>/lock        holds the sandbox id; shared flock while a command runs, exclusive to delete;
                       its mtime is the last use (the reaper's idle clock)
    <name>/root/       the workspace: the command's `/` (see isolation.py)
    <name>/full        present while the workspace was last found over its disk cap (isolation.py)
    .gone/<name>.json  tombstone: why a sandbox of that name was deleted (so a recreate can say so)

Create-if-absent is atomic across processes: the box is assembled in `.creating/` and renamed into
place; `rename` onto an existing (non-empty) directory fails, the loser discards its copy and
re-gets the winner's box. Every blocking filesystem call runs in a worker thread; a warm command
runs from the event loop (`WarmJob.arun`: its lock is an open, a non-blocking flock, a pread and a
utime, and nothing in it waits on the disk), which saves the thread hop (~0.14 ms of ~1.5 ms here).

File transfers (`upload_files` / `download_files`) run INSIDE the sandbox (a small script fed
through stdin), so the host never follows a path or symlink the sandbox controls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from deepagents.backends.local_shell import LocalShellBackend
from deepagents.backends.protocol import (
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
    SandboxBackendProtocol,
)
from deepagents.backends.sandbox import BaseSandbox

from deep_agent_service.sandboxes.errors import (
    SandboxBusyError,
    SandboxError,
    SandboxGoneError,
    SandboxUnreachableError,
    classified,
)
from deep_agent_service.sandboxes.isolation import (
    HOST_UID_WHEN_ROOT,
    CommandJob,
    DiskClock,
    Isolation,
    IsolationUnavailableError,
    Limits,
    RunResult,
    check_isolation,
    in_command_thread,
    prepare_root,
    root_needs_repair,
    run_command,
    runs_as_root,
)
from deep_agent_service.sandboxes.network import INSTALL_HINT as NETWORK_INSTALL_HINT
from deep_agent_service.sandboxes.network import slirp_path
from deep_agent_service.sandboxes.provider import DEFAULT_NAME_RULES, Acquired, NameRules, SandboxInfo
from deep_agent_service.sandboxes.warm import WarmJob, WarmPool, shared_pool

T = TypeVar("T")

META = "meta.json"
LOCK = "lock"
FULL = "full"
WORKSPACE = "root"
TRANSFER_OUTPUT_BYTES = 64 * 1024 * 1024

_UPLOAD_SCRIPT = r"""
import base64, json, os, sys
results = []
for item in json.load(sys.stdin):
    path = item["path"]
    try:
        if not path.startswith("/"):
            raise ValueError
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(item["data"]))
        results.append(None)
    except ValueError:
        results.append("invalid_path")
    except IsADirectoryError:
        results.append("is_directory")
    except PermissionError:
        results.append("permission_denied")
    except OSError as error:
        results.append(f"{type(error).__name__}: {error.strerror}")
print(json.dumps(results))
"""

_DOWNLOAD_SCRIPT = r"""
import base64, json, sys
results = []
for path in json.load(sys.stdin):
    try:
        with open(path, "rb") as handle:
            results.append({"data": base64.b64encode(handle.read()).decode()})
    except FileNotFoundError:
        results.append({"error": "file_not_found"})
    except IsADirectoryError:
        results.append({"error": "is_directory"})
    except PermissionError:
        results.append({"error": "permission_denied"})
    except OSError as error:
        results.append({"error": f"{type(error).__name__}: {error.strerror}"})
print(json.dumps(results))
"""


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code (the sync file tools); never inside a running event loop's thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()
    raise RuntimeError("sync sandbox call inside an event loop: use the async method (a-prefixed) instead")


def describe(result: RunResult, limits: Limits, timeout: float) -> ExecuteResponse:
    """The command's result for the agent, with one plain line per limit that stopped it."""
    text = result.output.decode("utf-8", errors="replace")
    notes: list[str] = []
    if result.timed_out:
        notes.append(f"[sandbox: the command ran past its {timeout:g}s time limit and was killed]")
    if result.truncated:
        notes.append(
            f"[sandbox: output exceeded {limits.output_bytes} bytes; the rest was dropped and the command stopped]"
        )
    if result.over_disk:
        notes.append(f"[sandbox: the workspace exceeds its {limits.disk_mb} MB disk cap; delete files to continue]")
    if notes:
        text = f"{text.rstrip(chr(10))}\n" + "\n".join(notes) if text else "\n".join(notes)
    return ExecuteResponse(output=text, exit_code=result.exit_code, truncated=result.truncated)


@dataclass(frozen=True, slots=True)
class _Paths:
    box: Path

    @property
    def meta(self) -> Path:
        return self.box / META

    @property
    def lock(self) -> Path:
        return self.box / LOCK

    @property
    def workspace(self) -> Path:
        return self.box / WORKSPACE

    @property
    def full(self) -> Path:
        return self.box / FULL


class LocalSandbox(BaseSandbox):
    """One local sandbox: a workspace directory; commands under bubblewrap (see isolation.py)."""

    def __init__(
        self,
        name: str,
        sandbox_id: str,
        box: Path,
        limits: Limits,
        *,
        network: bool = False,
        warm: WarmPool | None = None,
        disk_clock: DiskClock | None = None,
    ) -> None:
        self.name = name
        self._warm = warm if warm is not None and warm.enabled and not network else None
        self._disk_clock = disk_clock
        self._id = sandbox_id
        self._paths = _Paths(box)
        self._limits = limits
        self._network = network
        self._root_ready = False  # mount points checked once per handle; repaired if bwrap fails

    @property
    def id(self) -> str:
        return self._id

    @property
    def workspace(self) -> Path:
        return self._paths.workspace

    def _enter(self) -> int:
        """Take the shared lock of a live box (blocking; run in a thread). Raise SandboxGoneError otherwise."""
        try:
            fd = os.open(self._paths.lock, os.O_RDWR)
        except FileNotFoundError:
            raise SandboxGoneError(f"sandbox {self.name} was deleted") from None
        try:
            self._check_live(fd)
            os.utime(fd)
            if not self._root_ready:
                prepare_root(self._paths.workspace)
                self._root_ready = True
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check_live(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SandboxGoneError(f"sandbox {self.name} is being deleted") from None
        if os.pread(fd, 64, 0).decode().strip() != self._id:
            raise SandboxGoneError(f"sandbox {self.name} was deleted and replaced by another")

    def _entered(self) -> int:
        """`_enter`, with what is not the box's own state said as unreachable."""
        try:
            return self._enter()
        except SandboxGoneError:
            raise
        except OSError as error:
            raise SandboxUnreachableError(f"sandbox {self.name}: {error}") from error

    @staticmethod
    def _leave(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.utime(fd)
        os.close(fd)

    def _job(self, command: str, *, timeout: float, stdin: bytes | None, output: int | None, lock: int) -> CommandJob:
        """The command's job: on the box's warm init when there is one (warm.py), else a fresh bubblewrap."""
        if self._warm is not None:
            return WarmJob(
                self._warm,
                self._id,
                self._paths.workspace,
                command,
                limits=self._limits,
                timeout=timeout,
                stdin=stdin,
                output_bytes=output,
                full_flag=self._paths.full,
                disk_clock=self._disk_clock,
                lock_fd=lock,
            )
        return CommandJob(
            self._paths.workspace,
            command,
            limits=self._limits,
            network=self._network,
            timeout=timeout,
            stdin=stdin,
            output_bytes=output,
            full_flag=self._paths.full,
            disk_clock=self._disk_clock,
            lock_fd=lock,
        )

    async def _run(
        self,
        command: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the command's own limit
        stdin: bytes | None = None,
        output: int | None = None,
    ) -> RunResult:
        """Lock, run and unlock: a warm command from the event loop (`WarmJob.arun`), anything else
        in ONE worker-thread hop (a cold command costs bubblewrap, little more)."""
        if self._warm is not None and stdin is None and self._root_ready:
            fd = self._entered()  # no root to prepare: the lock's few syscalls, on the loop
            try:
                job = self._job(command, timeout=timeout, stdin=None, output=output, lock=fd)
                result = await job.arun() if isinstance(job, WarmJob) else None
            finally:
                self._leave(fd)
            if result is not None:
                return result
        stop = threading.Event()
        jobs: list[CommandJob] = []

        def blocking() -> RunResult:
            fd = self._entered()
            try:
                for attempt in range(2):
                    job = self._job(command, timeout=timeout, stdin=stdin, output=output, lock=fd)
                    jobs.append(job)
                    if stop.is_set():
                        job.kill()
                    result = job.run()
                    bwrap_failed = result.exit_code == 1 and result.output.startswith(b"bwrap: ")
                    # Retried only when bubblewrap could not mount (a mount point of the root was
                    # replaced): the command never started. Output alone could be the command's own.
                    if attempt or not bwrap_failed or not root_needs_repair(self._paths.workspace):
                        break
                    prepare_root(self._paths.workspace)
                return result
            finally:
                self._leave(fd)

        def cancel() -> None:
            stop.set()
            for job in list(jobs):
                job.kill()

        return await in_command_thread(blocking, cancel)

    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: ASYNC109
        limit = (
            self._limits.timeout_seconds
            if timeout is None or timeout <= 0
            else min(timeout, self._limits.timeout_seconds)
        )
        return describe(await self._run(command, timeout=limit), self._limits, limit)

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        return run_sync(self.aexecute(command, timeout=timeout))

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        if not files:
            return []
        payload = json.dumps([{"path": p, "data": base64.b64encode(d).decode()} for p, d in files]).encode()
        result = await self._run(
            f"python3 -c {_quote(_UPLOAD_SCRIPT)}", timeout=self._limits.timeout_seconds, stdin=payload
        )
        errors = _script_result(result, len(files), "upload")
        return [FileUploadResponse(path=path, error=error) for (path, _), error in zip(files, errors, strict=True)]

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return run_sync(self.aupload_files(files))

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        if not paths:
            return []
        result = await self._run(
            f"python3 -c {_quote(_DOWNLOAD_SCRIPT)}",
            timeout=self._limits.timeout_seconds,
            stdin=json.dumps(paths).encode(),
            output=TRANSFER_OUTPUT_BYTES,
        )
        items = _script_result(result, len(paths), "download")
        return [
            FileDownloadResponse(path=path, content=base64.b64decode(item["data"]))
            if "data" in item
            else FileDownloadResponse(path=path, error=item["error"])
            for path, item in zip(paths, items, strict=True)
        ]

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return run_sync(self.adownload_files(paths))


def _quote(script: str) -> str:
    import shlex

    return shlex.quote(script)


def _script_result(result: RunResult, count: int, what: str) -> list[Any]:
    try:
        parsed = json.loads(result.output.decode("utf-8", errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        parsed = None
    if not isinstance(parsed, list) or len(parsed) != count:
        detail = result.output[-300:].decode("utf-8", errors="replace")
        raise SandboxUnreachableError(f"sandbox file {what} failed (exit {result.exit_code}): {detail}")
    return parsed


class UnisolatedLocalSandbox(LocalShellBackend):
    """`SANDBOX_ISOLATION=none`: file tools confined to the workspace, commands NOT isolated.

    Only for trusted, single-user development on machines without bubblewrap: commands run as the
    server's user with the workspace as working directory, the allowlisted environment, limits and
    timeout, but they can read and write anything that user can.
    """

    def __init__(self, name: str, sandbox_id: str, box: Path, limits: Limits) -> None:
        super().__init__(root_dir=box / WORKSPACE, virtual_mode=True, inherit_env=False)
        self.name = name
        self._sandbox_id = sandbox_id
        self._box = box
        self._limits = limits

    @property
    def id(self) -> str:
        return self._sandbox_id

    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: ASYNC109
        if not await asyncio.to_thread((self._box / LOCK).exists):
            raise SandboxGoneError(f"sandbox {self.name} was deleted")
        limit = (
            self._limits.timeout_seconds
            if timeout is None or timeout <= 0
            else min(timeout, self._limits.timeout_seconds)
        )
        result = await run_command(
            self._box / WORKSPACE, command, limits=self._limits, isolation=Isolation.NONE, timeout=limit
        )
        return describe(result, self._limits, limit)

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        return run_sync(self.aexecute(command, timeout=timeout))


def check_reachable_by_sandbox_user(root: Path) -> None:
    """As root, sandboxes run as nobody: every directory above SANDBOX_ROOT must let it through."""
    root.mkdir(parents=True, exist_ok=True)
    for directory in (root, *root.parents):
        if not directory.stat().st_mode & stat.S_IXOTH:
            raise IsolationUnavailableError(
                f"SANDBOX_ROOT={root} is not reachable by the sandbox user (uid {HOST_UID_WHEN_ROOT}): "
                f"{directory} has mode {stat.filemode(directory.stat().st_mode)}; choose a directory "
                "every user may traverse (o+x on each parent)"
            )


class LocalProvider:
    """Sandboxes as directories under `root`; safe across processes sharing that directory."""

    name_rules: NameRules = DEFAULT_NAME_RULES

    def __init__(
        self,
        root: Path,
        *,
        limits: Limits | None = None,
        isolation: Isolation = Isolation.BWRAP,
        network: bool = False,
        warm: WarmPool | None = None,
        disk_clock: DiskClock | None = None,
    ) -> None:
        check_isolation(isolation)
        if network and isolation is Isolation.BWRAP and slirp_path() is None:
            raise IsolationUnavailableError(NETWORK_INSTALL_HINT)
        self.root = root.absolute()
        if isolation is Isolation.BWRAP and runs_as_root():
            check_reachable_by_sandbox_user(self.root)
        self.limits = limits or Limits()
        self.isolation = isolation
        self.network = network
        # warm inits (one running bubblewrap per box) unless disabled with a pool of warm_seconds 0
        self.warm = warm if warm is not None else shared_pool()
        # when workspaces are measured again after a command; one per process (`shared_disk_clock`)
        self.disk_clock = disk_clock if disk_clock is not None else DiskClock()

    def with_network(self, network: bool) -> LocalProvider:
        """The same sandboxes, with commands allowed (or not) to use the network."""
        if network == self.network:
            return self
        return LocalProvider(
            self.root,
            limits=self.limits,
            isolation=self.isolation,
            network=network,
            warm=self.warm,
            disk_clock=self.disk_clock,
        )

    def _box(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"invalid sandbox name {name!r}")
        return self.root / name

    def _handle(self, name: str, sandbox_id: str) -> SandboxBackendProtocol:
        box = self._box(name)
        if self.isolation is Isolation.NONE:
            return UnisolatedLocalSandbox(name, sandbox_id, box, self.limits)
        return LocalSandbox(
            name, sandbox_id, box, self.limits, network=self.network, warm=self.warm, disk_clock=self.disk_clock
        )

    # --- blocking parts (run in worker threads) ---

    def _read_meta(self, name: str) -> dict[str, Any] | None:
        try:
            meta: dict[str, Any] = json.loads((self._box(name) / META).read_text())
        except FileNotFoundError:
            return None
        return meta

    def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> bool:
        """Create the box if absent (atomic); True when this call created it."""
        staging = self.root / ".creating" / f"{name}-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        sandbox_id = uuid.uuid4().hex
        meta = {
            "name": name,
            "id": sandbox_id,
            "labels": dict(labels),
            "ttl_seconds": ttl_seconds,
            "created_at": time.time(),
        }
        (staging / META).write_text(json.dumps(meta))
        (staging / LOCK).write_text(sandbox_id)
        (staging / WORKSPACE).mkdir()
        prepare_root(staging / WORKSPACE)
        try:
            staging.rename(self._box(name))
        except OSError:  # ENOTEMPTY / EEXIST: another run or process created it first
            shutil.rmtree(staging, ignore_errors=True)
            return False
        return True

    def _tombstone(self, name: str) -> str | None:
        path = self.root / ".gone" / f"{name}.json"
        try:
            reason = str(json.loads(path.read_text()).get("reason", "deleted"))
        except (FileNotFoundError, ValueError):
            return None
        path.unlink(missing_ok=True)
        return reason

    def _delete(self, name: str, reason: str) -> bool:
        box = self._box(name)
        try:
            fd = os.open(box / LOCK, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SandboxBusyError(f"sandbox {name} is running a command; not deleted") from None
            sandbox_id = os.pread(fd, 64, 0).decode().strip()
            trash = self.root / ".trash" / f"{name}-{uuid.uuid4().hex}"
            trash.parent.mkdir(parents=True, exist_ok=True)
            box.rename(trash)  # from here on the name is free; a new box can be created at once
        finally:
            os.close(fd)
        self.warm.stop(sandbox_id)  # its init would keep the (now trashed) workspace mounted
        gone = self.root / ".gone"
        gone.mkdir(exist_ok=True)
        (gone / f"{name}.json").write_text(json.dumps({"reason": reason, "deleted_at": time.time()}))
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def _busy(self, box: Path) -> bool:
        try:
            fd = os.open(box / LOCK, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing releases the probe lock
        return False

    def _list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        found: list[SandboxInfo] = []
        if not self.root.is_dir():
            return found
        for box in self.root.iterdir():
            if box.name.startswith("."):
                continue
            meta = self._read_meta(box.name)
            if meta is None or any(meta["labels"].get(k) != v for k, v in labels.items()):
                continue
            try:
                last_used = (box / LOCK).stat().st_mtime
            except FileNotFoundError:
                continue
            found.append(
                SandboxInfo(
                    name=box.name,
                    sandbox_id=meta["id"],
                    labels=meta["labels"],
                    created_at=meta["created_at"],
                    last_used_at=last_used,
                    busy=self._busy(box),
                )
            )
        return found

    # --- the provider protocol ---

    async def _io(self, call: Awaitable[T]) -> T:
        return await classified(call, self._unreachable, catch=OSError)

    def _unreachable(self, error: Exception) -> SandboxError:
        return SandboxUnreachableError(f"local sandbox store {self.root}: {error}")

    async def get(self, name: str) -> SandboxBackendProtocol | None:
        meta = await self._io(asyncio.to_thread(self._read_meta, name))
        return None if meta is None else self._handle(name, meta["id"])

    async def get_or_create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> Acquired:
        existing = await self.get(name)
        if existing is not None:
            return Acquired(existing, created=False)
        created = await self._io(asyncio.to_thread(self._create, name, labels, ttl_seconds))
        sandbox = await self.get(name)  # re-get: the winner's box, whoever won
        if sandbox is None:
            raise SandboxUnreachableError(f"sandbox {name} vanished right after it was created")
        replaced = await self._io(asyncio.to_thread(self._tombstone, name)) if created else None
        return Acquired(sandbox, created=created, replaced=replaced)

    async def delete(self, name: str, *, reason: str = "deleted") -> bool:
        return await self._io(asyncio.to_thread(self._delete, name, reason))

    async def list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        return await self._io(asyncio.to_thread(self._list, labels))
