"""Run one shell command in a sandbox workspace: bubblewrap, resource limits, a clean environment.

The workspace directory is mounted as the command's root (`/`), so the agent's absolute paths
(`/report.md`) and the shell's (`cat /report.md`) name the same file. Everything else the command
sees is read-only system software (`/usr` and its merged-usr links), a private `/proc` and `/dev`,
and a minimal `/etc` on a tmpfs. Namespaces: user (the command runs as uid 1000 with no
capabilities), mount, pid, ipc, uts, cgroup and network (loopback only unless allowed).

Limits: a wall-clock timeout (the whole process tree is killed), an output cap (the command is
stopped and the result flagged as truncated), address space / processes / file size / open files
lowered (soft and hard) by the sandbox shell before the command runs, and a workspace disk cap
checked after every command and polled (every 0.1 s, slower for big workspaces) while one runs.
The disk cap is a soft cap: a fast writer can overshoot it by what it writes between two polls
(each single file is capped by the file-size limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

SANDBOX_UID = 1000
# When the server runs as root, sandboxes run as this host uid (nobody): the kernel exempts uid 0
# from the process limit, and no sandbox file should belong to root on the host.
HOST_UID_WHEN_ROOT = 65534
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# The only variables a command sees; nothing of the server's environment (keys, secrets, .env).
SANDBOX_ENV: dict[str, str] = {"PATH": SANDBOX_PATH, "HOME": "/", "LANG": "C.UTF-8", "TERM": "dumb"}
# Merged-usr links the root needs; created in the workspace when the host has them as links.
_USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_FILES = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime")
_NETWORK_ETC_FILES = ("resolv.conf", "hosts", "nsswitch.conf", "ssl", "ca-certificates", "gai.conf")
_MOUNT_DIRS = ("usr", "proc", "dev", "etc", "tmp")
DISK_POLL_SECONDS = 0.1
REAP_WAIT_SECONDS = 2.0
INSTALL_HINT = (
    "bubblewrap is not installed: install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
    "`make setup` does this when run as root), or set SANDBOX_ISOLATION=none to run commands "
    "WITHOUT isolation (trusted single-user development only)"
)


class Isolation(StrEnum):
    BWRAP = "bwrap"
    NONE = "none"


class IsolationUnavailable(RuntimeError):
    """Bubblewrap is missing or cannot create namespaces here; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_seconds: float = 120.0
    output_bytes: int = 256 * 1024
    memory_mb: int = 1024
    processes: int = 256
    file_mb: int = 100
    disk_mb: int = 1024
    open_files: int = 256


@dataclass(frozen=True, slots=True)
class RunResult:
    output: bytes
    exit_code: int | None
    truncated: bool = False
    timed_out: bool = False
    over_disk: bool = False


@functools.cache
def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def check_isolation(isolation: Isolation) -> None:
    """Fail fast (at start-up) when the configured isolation cannot work on this machine."""
    if isolation is Isolation.NONE:
        return
    binary = bwrap_path()
    if binary is None:
        raise IsolationUnavailable(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as probe_root:
        workspace = Path(probe_root)
        workspace.chmod(0o711)
        prepare_root(workspace)
        probe = subprocess.run(
            build_argv(workspace, "true", network=False, isolation=isolation),
            capture_output=True,
            timeout=10,
            check=False,
            env=SANDBOX_ENV,
        )
    if probe.returncode != 0:
        detail = probe.stderr.decode(errors="replace").strip()
        raise IsolationUnavailable(
            f"bubblewrap cannot create namespaces here ({detail}): enable unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1) or run the server where they are available, "
            "or set SANDBOX_ISOLATION=none to run commands WITHOUT isolation"
        )


def runs_as_root() -> bool:
    return os.geteuid() == 0


def _own(path: Path) -> None:
    if runs_as_root():
        os.lchown(path, HOST_UID_WHEN_ROOT, HOST_UID_WHEN_ROOT)


def prepare_root(workspace: Path) -> None:
    """Make the workspace usable as a root: mount points and merged-usr links (blocking; idempotent)."""
    _own(workspace)
    for name in _MOUNT_DIRS:
        path = workspace / name
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()  # a command replaced a mount point; restore it so bwrap mounts where we say
        path.mkdir(exist_ok=True)
        _own(path)
    for name in _USR_LINKS:
        host = Path("/") / name
        link = workspace / name
        if host.is_symlink() and not link.is_symlink():
            if link.is_dir() and not any(link.iterdir()):
                link.rmdir()
            if not link.exists():
                link.symlink_to(os.readlink(host))
                _own(link)


@functools.cache
def _drop_root() -> tuple[str, ...]:
    """The prefix that runs bubblewrap as HOST_UID_WHEN_ROOT when the server is root (else nothing)."""
    if not runs_as_root():
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise IsolationUnavailable(
            "the server runs as root and needs `setpriv` (util-linux) to start sandboxes as nobody"
        )
    uid = str(HOST_UID_WHEN_ROOT)
    return (setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups")


def bwrap_argv(*, network: bool) -> list[str]:
    """Bubblewrap's namespace options: everything unshared, uid 1000, no capabilities."""
    binary = bwrap_path() or "bwrap"
    argv = [*_drop_root(), binary, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL"]
    if network:
        argv.append("--share-net")
    return argv


@functools.cache
def _system_binds(network: bool) -> tuple[str, ...]:
    """Read-only system mounts (same for every command; computed once)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _USR_LINKS:
        host = Path("/") / name
        if host.is_dir() and not host.is_symlink():
            args += ["--ro-bind", str(host), f"/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/etc"]
    for name in _ETC_FILES + (_NETWORK_ETC_FILES if network else ()):
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return tuple(args)


def build_argv(
    workspace: Path, command: str, *, network: bool, isolation: Isolation, limits: Limits | None = None
) -> list[str]:
    # The command is passed as $1 and run by `eval` after the limits are set: no quoting games.
    shell = ["/bin/sh", "-c", f'{limits_prologue(limits or Limits())}; eval "$1"', "sandbox", command]
    if isolation is Isolation.NONE:
        return shell
    env_args: list[str] = ["--clearenv"]
    for key, value in SANDBOX_ENV.items():
        env_args += ["--setenv", key, value]
    return [
        *bwrap_argv(network=network),
        "--bind",
        str(workspace),
        "/",
        *_system_binds(network),
        *env_args,
        "--chdir",
        "/",
        *shell,
    ]


def limits_prologue(limits: Limits) -> str:
    """Shell lines that lower the command's own limits (soft and hard) before it runs.

    Done by the sandboxed shell itself rather than in a `preexec_fn`: a pre-exec hook forces
    Python to fork instead of vfork, which costs more than the whole sandbox start here.
    dash units: -v KiB, -f 512-byte blocks, -p processes, -n open files, -c core blocks.
    """
    values = {
        "v": limits.memory_mb * 1024,
        "p": limits.processes,
        "f": limits.file_mb * 2048,
        "n": limits.open_files,
        "c": 0,
    }
    return "; ".join(f"ulimit -HS{flag} {value}" for flag, value in values.items())


def disk_usage(path: Path, stop_above: int | None = None) -> int:
    """Bytes allocated under `path` (no symlinks followed); stops counting once above `stop_above`."""
    total = 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += stat.st_blocks * 512
            if entry.is_dir(follow_symlinks=False) and not (current == str(path) and entry.name in ("proc", "dev")):
                stack.append(entry.path)
        if stop_above is not None and total > stop_above:
            break
    return total


def _kill_tree(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_command(
    workspace: Path,
    command: str,
    *,
    limits: Limits,
    network: bool = False,
    isolation: Isolation = Isolation.BWRAP,
    timeout: float | None = None,  # noqa: ASYNC109 - the command's limit, enforced inside
    stdin: bytes | None = None,
    output_bytes: int | None = None,
) -> RunResult:
    """Run `command` with the workspace as its root; never raises for what the command does."""
    cap = output_bytes or limits.output_bytes
    disk_cap = limits.disk_mb * 1024 * 1024
    process = await asyncio.create_subprocess_exec(
        *build_argv(workspace, command, network=network, isolation=isolation, limits=limits),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=workspace,
        env=SANDBOX_ENV if isolation is Isolation.BWRAP else {**SANDBOX_ENV, "HOME": str(workspace)},
        start_new_session=True,
    )
    chunks: list[bytes] = []
    state = {"size": 0, "truncated": False, "over_disk": False}

    async def feed() -> None:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(stdin or b"")
            await process.stdin.drain()
            process.stdin.close()

    async def collect() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            room = cap - state["size"]
            chunks.append(chunk[:room])
            state["size"] += min(len(chunk), room)
            if len(chunk) > room:
                state["truncated"] = True
                _kill_tree(process)  # stop producing: output past the cap is never read
                return

    async def watch_disk() -> None:
        interval = DISK_POLL_SECONDS
        while True:
            await asyncio.sleep(interval)
            started = time.perf_counter()
            if await asyncio.to_thread(disk_usage, workspace, disk_cap) > disk_cap:
                state["over_disk"] = True
                _kill_tree(process)
                return
            # a big workspace costs more to measure: poll it less often (at most ~20% of a core)
            interval = max(DISK_POLL_SECONDS, 5 * (time.perf_counter() - started))

    watcher = asyncio.create_task(watch_disk())
    feeder = asyncio.create_task(feed()) if stdin is not None else None
    timed_out = False
    try:
        async with asyncio.timeout(timeout if timeout is not None else limits.timeout_seconds):
            await collect()
            await process.wait()
    except TimeoutError:
        timed_out = True
    finally:
        watcher.cancel()
        if feeder is not None:
            feeder.cancel()
        _kill_tree(process)
        # On Python 3.11 `wait()` also waits for the output pipe to close, which a killed process
        # tree (e.g. a fork bomb being torn down by the kernel) can hold for seconds: bound it.
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            await asyncio.wait_for(process.wait(), REAP_WAIT_SECONDS)
    if not state["over_disk"]:
        state["over_disk"] = await asyncio.to_thread(disk_usage, workspace, disk_cap) > disk_cap
    return RunResult(
        output=b"".join(chunks),
        exit_code=None if timed_out else process.returncode,
        truncated=bool(state["truncated"]),
        timed_out=timed_out,
        over_disk=bool(state["over_disk"]),
    )
