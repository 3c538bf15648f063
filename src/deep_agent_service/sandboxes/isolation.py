"""Run one shell command in a sandbox workspace: bubblewrap, resource limits, a clean environment.

The workspace directory is mounted as the command's root (`/`), so the agent's absolute paths
(`/report.md`) and the shell's (`cat /report.md`) name the same file. Everything else the command
sees is read-only system software (`/usr` and its merged-usr links), a private `/proc` and `/dev`,
and a minimal `/etc` on a tmpfs. Namespaces: user (the command runs as uid 1000 with no
capabilities, and may not create user namespaces of its own), mount, pid (its `/proc` shows only
its own processes), ipc, uts, cgroup and network (loopback only; a networked box gets a network
namespace of its own with NAT and no route to the host or private ranges: `network.py`).

Limits: a wall-clock timeout (the whole process tree is killed), an output cap (the command is
stopped and the result flagged as truncated), address space / processes / file size / open files
lowered (soft and hard) by the sandbox shell before the command runs, and a workspace disk cap
checked after every command and polled (every 0.1 s, slower for big workspaces) while one runs.
The disk cap is soft within one command: a fast writer overshoots it by what it writes between two
polls (each single file is capped by the file-size limit; measured: up to ~310 MB over a 48 MB cap
with 32 parallel writers, see README "Sandboxes"). Once a workspace is over its cap, every later
command runs with `ulimit -f 0`: it can read and delete, but no file grows, so the overshoot does
not add up over commands. A box found over its cap gets a flag file (`full_flag`, next to its
workspace, out of the command's reach); a command of a box without the flag skips the measuring
before it runs (only commands grow a workspace, and each one's check after it sets the flag), one of
a flagged box measures again and clears the flag once files are gone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from stat import S_ISREG
from typing import IO, TypeVar

from deep_agent_service.errors import ServiceError
from deep_agent_service.sandboxes.network import BOX_RESOLV_CONF, BoxNetwork, EgressPolicy, NetworkSetupError

T = TypeVar("T")
logger = logging.getLogger("deep_agent_service.sandboxes")
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
_NETWORK_ETC_FILES = ("hosts", "nsswitch.conf", "ssl", "ca-certificates", "gai.conf")
_MOUNT_DIRS = ("usr", "proc", "dev", "etc", "tmp")
DISK_POLL_SECONDS = 0.1
REAP_WAIT_SECONDS = 2.0
INSTALL_HINT = (
    "bubblewrap is not installed: install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
    "`make setup` does this when run as root), or use a cloud sandbox (SANDBOX_PROVIDER=langsmith, "
    "e.g. on LangSmith Deployments), or set SANDBOX_ISOLATION=none to run commands WITHOUT isolation "
    "(trusted single-user development only)"
)


class Isolation(StrEnum):
    BWRAP = "bwrap"
    NONE = "none"


class IsolationUnavailableError(ServiceError, RuntimeError):
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
    egress_allow: tuple[str, ...] = ()  # networked boxes: CIDRs let through despite the egress block list


@dataclass(frozen=True, slots=True)
class NetworkPipes:
    """The descriptors bubblewrap gets for a networked box: where it reports its child's pid,
    what it waits on before running the command, and the box's /etc/resolv.conf."""

    info_r: int
    info_w: int
    block_r: int
    block_w: int
    resolv_r: int

    @classmethod
    def open(cls) -> NetworkPipes:
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        resolv_r, resolv_w = os.pipe()
        os.write(resolv_w, BOX_RESOLV_CONF)  # a few bytes: the pipe holds them until bubblewrap reads
        os.close(resolv_w)
        return cls(info_r, info_w, block_r, block_w, resolv_r)

    @property
    def child_ends(self) -> tuple[int, int, int]:
        return self.info_w, self.block_r, self.resolv_r

    def close_child_ends(self) -> None:
        for fd in self.child_ends:
            with contextlib.suppress(OSError):
                os.close(fd)

    def release(self) -> None:
        """Let the box run its command (the network is ready)."""
        os.write(self.block_w, b"1")

    def close(self) -> None:
        for fd in (self.info_r, self.block_w):
            with contextlib.suppress(OSError):
                os.close(fd)


@functools.cache
def egress_policy(allow: tuple[str, ...]) -> EgressPolicy:
    """The egress routes of networked boxes (this machine's addresses are read once)."""
    return EgressPolicy.build(allow)


@dataclass(frozen=True, slots=True)
class RunResult:
    output: bytes
    exit_code: int | None
    truncated: bool = False
    timed_out: bool = False
    over_disk: bool = False

    @classmethod
    def of(cls, pumped: tuple[list[bytes], bool, bool, bool], exit_code: int | None, over_disk: bool) -> RunResult:
        """A finished command's result from what its pump returned (a timed-out one has no exit code)."""
        chunks, truncated, timed_out, _ = pumped
        return cls(b"".join(chunks), None if timed_out else exit_code, truncated, timed_out, over_disk)


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
        raise IsolationUnavailableError(INSTALL_HINT)
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
        detail = " ".join(probe.stderr.decode(errors="replace").split())  # one line, as the refusal is
        raise IsolationUnavailableError(
            f"bubblewrap cannot create namespaces here ({detail}): enable unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1) or run the server where they are available, "
            "or use a cloud sandbox (SANDBOX_PROVIDER=langsmith, e.g. on container platforms), "
            "or set SANDBOX_ISOLATION=none to run commands WITHOUT isolation"
        )


def runs_as_root() -> bool:
    return os.geteuid() == 0


def _own(path: Path) -> None:
    if runs_as_root():
        os.lchown(path, HOST_UID_WHEN_ROOT, HOST_UID_WHEN_ROOT)


def root_needs_repair(workspace: Path) -> bool:
    """Whether a mount point of the workspace is not a plain directory (what `prepare_root` fixes):
    bubblewrap then fails before the command starts, so the command may be retried after a repair."""
    return any((workspace / name).is_symlink() or not (workspace / name).is_dir() for name in _MOUNT_DIRS)


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
        raise IsolationUnavailableError(
            "the server runs as root and needs `setpriv` (util-linux) to start sandboxes as nobody"
        )
    uid = str(HOST_UID_WHEN_ROOT)
    return (setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups")


@functools.cache
def bwrap_help() -> str:
    """Bubblewrap's `--help` (the options this version has); empty without bubblewrap."""
    binary = bwrap_path()
    if binary is None:
        return ""
    return subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10, check=False).stdout


@functools.cache
def disables_userns() -> bool:
    """Whether this bubblewrap can refuse nested user namespaces (`--disable-userns`, bubblewrap 0.8+)."""
    binary = bwrap_path()
    if binary is None:
        return False
    if "--disable-userns" in bwrap_help():
        return True
    logger.warning(
        "bubblewrap %s has no --disable-userns (0.8+): commands in sandboxes can create nested user namespaces",
        binary,
    )
    return False


def bwrap_argv() -> list[str]:
    """Bubblewrap's namespace options: everything unshared, uid 1000, no capabilities, no nested user namespaces.

    A nested user namespace would give the command every capability inside it: the kernel surface
    (netfilter, mount, ...) that most sandbox escapes go through. `--disable-userns` closes it."""
    binary = bwrap_path() or "bwrap"
    argv = [*_drop_root(), binary, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    if disables_userns():
        argv.append("--disable-userns")
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL"]
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


def _network_args(pipes: NetworkPipes | None) -> list[str]:
    """A networked box: report the pid, wait until NAT and routes are ready, slirp's DNS as resolver."""
    if pipes is None:
        return []
    return [
        "--info-fd",
        str(pipes.info_w),
        "--block-fd",
        str(pipes.block_r),
        "--ro-bind-data",
        str(pipes.resolv_r),
        "/etc/resolv.conf",
    ]


def build_argv(
    workspace: Path,
    command: str,
    *,
    network: bool,
    isolation: Isolation,
    limits: Limits | None = None,
    pipes: NetworkPipes | None = None,
) -> list[str]:
    """The command line of one sandboxed command; a networked one (`pipes`) gets its own network namespace."""
    # The command is passed as $1 and run by `eval` after the limits are set: no quoting games.
    shell = ["/bin/sh", "-c", shell_script(limits or Limits()), "sandbox", command]
    if isolation is Isolation.NONE:
        return shell
    return box_argv(workspace, shell, network=network, pipes=pipes)


ARG_MAX_BYTES = 128 * 1024  # the kernel's MAX_ARG_STRLEN, with the string's NUL


def unrunnable(command: str) -> str | None:
    """Why no shell can be handed `command` as its one argument (exec refuses it), or None.

    Said to the agent as the command's result: a model that wrote one gets a reason and a way out,
    not a failed run."""
    try:
        encoded = os.fsencode(command)
    except UnicodeEncodeError:
        return "the command is not valid text (it holds an unpaired surrogate); send it as plain UTF-8"
    if b"\0" in encoded:
        return "the command holds a NUL byte, which no program argument can; remove it"
    if len(encoded) >= ARG_MAX_BYTES:
        return (
            f"the command is {len(encoded):,} bytes, over the {ARG_MAX_BYTES - 1:,} one argument may hold; "
            "write it to a script file and run that"
        )
    return None


def shell_script(limits: Limits) -> str:
    """The sandbox shell's script: lower the limits, then run the command given as $1."""
    return f'{limits_prologue(limits)}; eval "$1"'


def box_argv(
    workspace: Path, inner: list[str], *, network: bool, pipes: NetworkPipes | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """Bubblewrap around `inner`: the workspace as root, system mounts, the allowlisted environment;
    `extra` options come after the mounts (they may remount them)."""
    env_args: list[str] = ["--clearenv"]
    for key, value in SANDBOX_ENV.items():
        env_args += ["--setenv", key, value]
    return [
        *bwrap_argv(),
        "--bind",
        str(workspace),
        "/",
        *_system_binds(network),
        *_network_args(pipes),
        *extra,
        *env_args,
        "--chdir",
        "/",
        *inner,
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


def filesystem_used(where: Path | int) -> int | None:
    """Bytes in use on the filesystem holding `where` (a path, or an open file descriptor: no path
    lookup, so it does not block an event loop), every box on it and anything else; None if unknown."""
    try:
        stats = os.fstatvfs(where) if isinstance(where, int) else os.statvfs(where)
    except OSError:
        return None
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def disk_usage(path: Path, stop_above: int | None = None) -> int:
    """Bytes under `path` (no symlinks followed); stops counting once above `stop_above`.

    A regular file counts its size or its allocated blocks, whichever is larger: the filesystem
    allocates what was just written only later (ext4 delayed allocation), and a sparse file counts
    what it could be filled with, so the cap errs on the side of stopping."""
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
            allocated = stat.st_blocks * 512
            total += max(allocated, stat.st_size) if S_ISREG(stat.st_mode) else allocated
            if entry.is_dir(follow_symlinks=False) and not (current == str(path) and entry.name in ("proc", "dev")):
                stack.append(entry.path)
        if stop_above is not None and total > stop_above:
            break
    return total


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for the killed command, at most REAP_WAIT_SECONDS (a fork bomb's teardown can take long).

    With a pidfd the wait ends the moment the process exits; `Popen.wait(timeout)` polls with
    growing sleeps instead, which adds up to a millisecond to every command."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd (old kernel), or already reaped
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(REAP_WAIT_SECONDS)
        return
    try:
        select.select([pidfd], [], [], REAP_WAIT_SECONDS)
    finally:
        os.close(pidfd)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(0)


# Commands run in worker threads of their own pool: a command may take minutes, and must never
# hold one of the event loop's default-executor threads (few, shared by the whole server).
_COMMAND_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="sandbox-command")


def poll_interval(took: float) -> float:
    """Seconds until the workspace is measured again, after a measurement that took `took`: a big
    workspace costs more to measure, so it is polled less often (at most ~20% of a core)."""
    return max(DISK_POLL_SECONDS, 5 * took)


class DiskClock:
    """When each box's workspace is measured again after a command (one per provider: per process).

    Measuring walks the whole workspace (about 5 us a file here: 50 ms for 10,000 files, more than a
    warm command costs a hundred times over), so it is not repeated after every command: only once
    the commands since the last measurement have run for as long as the poll interval within one
    command (`DISK_POLL_SECONDS`, or five times what the last measurement took, as in `_pump`).
    A box can so go over its cap by what one poll interval of writing puts on disk, the bound a
    single long command already has; then it is flagged full and measured before and after every
    command until files go. A box this process has not measured yet is measured after its command.
    So is one whose filesystem's used space (`fstatvfs` through the box's open lock, a microsecond)
    grew since that measurement by more than the box's headroom then: a fast writer (128 MB in
    0.08 s, well inside one poll interval) is caught by the command that wrote it, not a few
    commands later. Other boxes' writes on the same filesystem can only make a box measured sooner.
    """

    def __init__(self, boxes: int = 4096) -> None:
        self._boxes = boxes
        # since the box's last measurement: (command seconds, poll interval, bytes left under its cap,
        # the filesystem's used bytes)
        self._unmeasured: OrderedDict[Path, tuple[float, float, int, int | None]] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, workspace: Path, seconds: float, used: int | None) -> bool:
        """Whether to measure after a command of `seconds`, the filesystem now holding `used` bytes
        (None: unknown); if not, those seconds are counted."""
        with self._lock:
            entry = self._unmeasured.get(workspace)
            if entry is None or entry[0] + seconds >= entry[1] or used is None or entry[3] is None:
                return True
            if used - entry[3] > entry[2]:  # the filesystem grew by more than the box's headroom
                return True
            self._unmeasured[workspace] = (entry[0] + seconds, *entry[1:])
            return False

    def measured(self, workspace: Path, took: float, headroom: int, used: int | None) -> None:
        with self._lock:
            self._unmeasured[workspace] = (0.0, poll_interval(took), headroom, used)
            self._unmeasured.move_to_end(workspace)
            while len(self._unmeasured) > self._boxes:  # forgotten: measured after its next command
                self._unmeasured.popitem(last=False)


@functools.cache
def shared_disk_clock() -> DiskClock:
    """The process's disk clock: every provider of the process shares it, as they share the boxes."""
    return DiskClock()


class CommandJob:
    """One command run to completion in a worker thread (see `run_command` for why a thread).

    Blocking, plain `subprocess.Popen` (vfork) plus one `select` loop for output, input, the
    time limit and the disk poll costs less than asyncio's subprocess plumbing (a child-watcher
    thread per process, pipe transports, three tasks, a thread hop for the disk check).
    `kill()` may be called from any thread: the process tree dies, the loop sees EOF and returns.
    """

    def __init__(
        self,
        workspace: Path,
        command: str,
        *,
        limits: Limits,
        network: bool = False,
        isolation: Isolation = Isolation.BWRAP,
        timeout: float | None = None,
        stdin: bytes | None = None,
        output_bytes: int | None = None,
        full_flag: Path | None = None,
        disk_clock: DiskClock | None = None,
        lock_fd: int | None = None,
    ) -> None:
        self.command = command
        self.limits = limits
        self.isolation = isolation
        # a networked box under bubblewrap: its own namespace, NAT and egress routes (network.py)
        self.network = network and isolation is Isolation.BWRAP
        self.env = SANDBOX_ENV if isolation is Isolation.BWRAP else {**SANDBOX_ENV, "HOME": str(workspace)}
        self.workspace = workspace
        self.timeout = timeout if timeout is not None else limits.timeout_seconds
        self.cap = output_bytes or limits.output_bytes
        self.disk_cap = limits.disk_mb * 1024 * 1024
        # None: measure the workspace before every command too (no place to remember a full box)
        self.full_flag = full_flag
        # None: measure the workspace after every command (no place to remember when it last was)
        self.disk_clock = disk_clock if full_flag is not None else None
        # the box's lock, open while the command runs: its filesystem's usage is read through it
        self._filesystem: Path | int = lock_fd if lock_fd is not None else workspace
        self._started = time.monotonic()
        self._was_full = False
        self.stdin = stdin
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._killed = False

    def kill(self) -> None:
        with self._lock:
            self._killed = True
            if self._pid is not None:
                _kill_group(self._pid)

    def _limits_now(self) -> Limits:
        """The command's limits; over the disk cap, no file may grow (`ulimit -f 0`): the command can
        still read, list and delete (so the box can recover), but each command can no longer add
        another poll interval's worth of data to a box that is already full."""
        self._started = time.monotonic()
        if self.full_flag is not None and not os.path.lexists(self.full_flag):
            return self.limits  # not full after the last command, and only commands add files
        if not self._over_disk():
            self._flag_full(False)
            return self.limits
        self._was_full = True
        return replace(self.limits, file_mb=0)

    def _over_disk(self) -> bool:
        began = time.monotonic()
        usage = disk_usage(self.workspace, self.disk_cap)
        if self.disk_clock is not None:
            took = time.monotonic() - began
            self.disk_clock.measured(self.workspace, took, self.disk_cap - usage, filesystem_used(self._filesystem))
        return usage > self.disk_cap

    def _measure_after(self, over_disk: bool) -> bool:
        """Whether to walk the workspace after the command: not when the poll already caught it, or
        when `disk_clock` says it is not due yet (it then counts this command's time)."""
        if over_disk:
            return False
        if self.disk_clock is None or self._was_full:
            return True
        return self.disk_clock.due(self.workspace, time.monotonic() - self._started, filesystem_used(self._filesystem))

    def _checked_after(self, over_disk: bool, measure: bool | None = None) -> bool:
        """The disk cap after the command (`measure`: `_measure_after`'s answer); flags a full box."""
        if measure is None:
            measure = self._measure_after(over_disk)
        if measure:
            over_disk = self._over_disk()
        if over_disk:
            self._flag_full(True)
        return over_disk

    def _flag_full(self, full: bool) -> None:
        if self.full_flag is None:
            return
        try:
            if full:
                os.close(os.open(self.full_flag, os.O_WRONLY | os.O_CREAT, 0o600))
            else:
                self.full_flag.unlink(missing_ok=True)
        except OSError as error:  # the result still says so; the next command measures again
            logger.warning("sandbox disk-cap flag %s not updated: %s", self.full_flag, error)

    def run(self) -> RunResult:
        """Run the command (blocking); never raises for what the command does."""
        if (problem := unrunnable(self.command)) is not None:
            return RunResult(output=f"[sandbox: {problem}; the command did not run]".encode(), exit_code=None)
        limits = self._limits_now()
        pipes = NetworkPipes.open() if self.network else None
        network = BoxNetwork(egress_policy(self.limits.egress_allow), _drop_root()) if pipes else None
        with self._lock:
            if self._killed:
                if pipes:
                    pipes.close_child_ends()
                    pipes.close()
                return RunResult(output=b"", exit_code=None, timed_out=True)
            argv = build_argv(
                self.workspace,
                self.command,
                network=self.network,
                isolation=self.isolation,
                limits=limits,
                pipes=pipes,
            )
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if self.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.workspace,
                env=self.env,
                start_new_session=True,
                pass_fds=pipes.child_ends if pipes else (),
            )
            self._pid = process.pid
        try:
            if pipes and network:
                pipes.close_child_ends()
                try:
                    network.attach(pipes.info_r)
                except NetworkSetupError as error:
                    return RunResult(output=f"[sandbox: {error}; the command did not run]".encode(), exit_code=None)
                pipes.release()
            assert process.stdout is not None
            pumped = self._pump(process.stdout, process.stdin)
        finally:
            if network:
                network.stop()
            if pipes:
                pipes.close()
            _kill_group(process.pid)  # what the command left running in the background dies with it
            _reap(process)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        return RunResult.of(pumped, process.returncode, self._checked_after(pumped[3]))

    def _pump(self, stdout: IO[bytes], stdin: IO[bytes] | None) -> tuple[list[bytes], bool, bool, bool]:
        """Read output, feed input, enforce the time limit, output cap and disk cap, until EOF."""
        chunks: list[bytes] = []
        size = 0
        pending = memoryview(self.stdin or b"")
        started = time.monotonic()
        deadline = started + self.timeout
        interval = DISK_POLL_SECONDS
        next_poll = started + interval
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if stdin is not None:
                if pending:
                    os.set_blocking(stdin.fileno(), False)
                    selector.register(stdin, selectors.EVENT_WRITE)
                else:
                    stdin.close()
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return chunks, False, True, False
                if now >= next_poll:
                    if self._over_disk():
                        return chunks, False, False, True
                    interval = poll_interval(time.monotonic() - now)
                    next_poll = time.monotonic() + interval
                    continue
                for key, _ in selector.select(min(deadline, next_poll) - now):
                    if key.fileobj is stdout:
                        chunk = os.read(stdout.fileno(), 65536)
                        if not chunk:
                            return chunks, False, False, False
                        size = self._kept(chunks, size, chunk)
                        if size > self.cap:  # stop producing: output past the cap is never read
                            return chunks, True, False, False
                    elif stdin is not None:
                        pending = self._feed(stdin, pending, selector)

    def _kept(self, chunks: list[bytes], size: int, chunk: bytes) -> int:
        """Keep what of `chunk` fits under the output cap; the size read so far (above the cap: stop)."""
        chunks.append(chunk[: max(self.cap - size, 0)])
        return size + len(chunk)

    @staticmethod
    def _feed(stdin: IO[bytes], pending: memoryview, selector: selectors.BaseSelector) -> memoryview:
        """Write what the pipe takes now; close stdin once everything is written (or nobody reads)."""
        try:
            written = os.write(stdin.fileno(), pending[:65536])
        except BlockingIOError:
            return pending
        except (BrokenPipeError, ConnectionResetError):
            written = len(pending)
        pending = pending[written:]
        if not pending:
            selector.unregister(stdin)
            stdin.close()
        return pending


def _settle(done: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled meanwhile
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)  # type: ignore[arg-type]


async def in_command_thread(call: Callable[[], T], on_cancel: Callable[[], None]) -> T:
    """Run a blocking command call in the command pool; cancelling the caller calls `on_cancel`.

    The thread settles a plain loop future itself: `run_in_executor` + `shield` chain three futures,
    each hand-over one more turn of the loop, on every command."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (call(), None)
        except BaseException as error:  # handed to the awaiting caller
            outcome = (None, error)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(_settle, done, *outcome)

    _COMMAND_THREADS.submit(work)
    try:
        return await done
    except asyncio.CancelledError:
        on_cancel()  # the command dies; the thread sees EOF and ends
        raise


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
    job = CommandJob(
        workspace,
        command,
        limits=limits,
        network=network,
        isolation=isolation,
        timeout=timeout,
        stdin=stdin,
        output_bytes=output_bytes,
    )
    return await in_command_thread(job.run, job.kill)
