"""Warm boxes: one long-lived bubblewrap per box, with a small exec helper inside, asked per command.

A cold command pays for a new bubblewrap (namespaces, mounts) every time (~8 ms). A warm box keeps
one running: the helper is the pid 1 of the box's pid namespace and runs one command per request,
over a Unix socket that also carries the command's stdin and stdout pipes (SCM_RIGHTS), so the
output loop of `CommandJob` reads the command directly and nothing is copied twice.

The helper comes in two builds with one protocol and the same guarantees, tested alike:
- in C (`warm_helper.c`), compiled by `make setup` with the system's compiler into
  `build/warm-helper` (git-ignored). Bubblewrap copies it into each box read-only and executable
  (`--ro-bind-data` from a descriptor the server opened, at `HELPER_PATH` in the box's own /etc, a
  tmpfs of the init: never in the workspace, nothing for the file tools or the state listing).
  It costs no interpreter per command (~3 MB RSS per box with its bubblewrap, ~0.3 MB PSS);
- in Python (`HELPER`, run by the system's `/usr/bin/python3`, read-only under `/usr` like all of
  it), the fallback when the binary is missing, older than its source (a checkout changed it since
  the build: `helper_binary`) or bubblewrap is older than 0.5 (no `--perms`).

Per command, as on the cold path: the sandbox shell lowers its own limits before the command runs
(`shell_script`), it runs in a session and process group of its own, with the allowlisted
environment only (bubblewrap's `--clearenv`), uid 1000, no capabilities, no new privileges
(bubblewrap sets both for the whole box and the helper cannot regain them), and with no descriptor
but its stdin, stdout and stderr. When the command's shell exits, or the host asks (time limit,
output cap, disk cap, cancel), the helper SIGKILLs every other process of the namespace
(`kill(-1)`: all but itself, the pid 1) and reaps them before it replies, so what the command left
running or double-forked away dies with the command, not when the box goes idle. Being pid 1,
the helper cannot be killed from inside the box (`kill -9 -1` spares it), and it is not dumpable,
so a command cannot ptrace it either. It then empties /dev/shm; what it cannot remove there ends
the box (the next command runs cold, the new init starts with an empty one).

A warm command without input runs from the event loop (`WarmJob.arun`): the output pipe, and from
the second wait on the helper's socket too, are read when the loop says they are readable; once
the helper's "X" is in, every process of the box is gone, so the rest of the output is read
without another wait (a read that would still block waits as before). Only walking the workspace
for the disk cap goes to a worker thread. Cancelling it kills the command and waits (through
further cancels) until the helper has reaped it, so the box's lock and init are free only once
nothing of it runs.
Commands with input (file transfers), networked ones and boxes flagged full take `run` in a worker
thread. A command no shell can take (a NUL byte, longer than one argument may be, not encodable:
`unrunnable`) never reaches the helper: the cold path answers the agent why it did not run.

One command at a time per init: a second, concurrent command in the same box takes the cold path,
so two commands never share a pid namespace (neither can see or kill the other's processes, and
each has the process limit for itself). Networked boxes stay on the cold path (their network
namespace is set up per command, network.py). A dead init is noticed on the next command and
restarted; idle inits stop after `warm_seconds`; at most `max_inits` live (least recently used
stops first).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal

from deep_agent_service.sandboxes.isolation import (
    DISK_POLL_SECONDS,
    REAP_WAIT_SECONDS,
    SANDBOX_ENV,
    CommandJob,
    RunResult,
    box_argv,
    bwrap_help,
    poll_interval,
    shell_script,
    unrunnable,
)

logger = logging.getLogger("deep_agent_service.sandboxes")
DEFAULT_WARM_SECONDS = 60.0
DEFAULT_WARM_MAX = 32
PYTHON = "/usr/bin/python3"  # under /usr, which every box mounts read-only
# The helper in C (`make setup` builds it; HELPER below is the fallback): copied into each box
# read-only, at a path in the box's own /etc (a tmpfs of the init), never in its workspace.
HELPER_SOURCE = Path(__file__).with_name("warm_helper.c")
HELPER_BINARY = Path(__file__).resolve().parents[3] / "build" / "warm-helper"
HELPER_PATH = "/etc/warm-helper"
START_SECONDS = 10.0
# The cold path gives every command a fresh /etc and /dev (tmpfs); a warm box outlives its commands,
# so /etc and /dev are read-only and /dev/shm (writable, for POSIX shared memory) is emptied by the
# helper after each command: nothing a command leaves there reaches the next one.
WARM_OPTIONS = ("--as-pid-1", "--remount-ro", "/etc", "--remount-ro", "/dev", "--tmpfs", "/dev/shm")

# The helper's bootstrap: it reads its code from the socket (a short command line in `ps`).
BOOT = (
    "import socket,sys;sock=socket.socket(fileno=int(sys.argv[1]));sock.set_inheritable(False);exec(sock.recv(1<<20))"
)
# Runs inside the box as its pid 1 (warm_helper.c is the same in C). Protocol on `sock` (SOCK_SEQPACKET):
# host -> helper: b"<script>\0<command>" with fds [stdin, stdout] (`_request`); or b"K" (kill the command).
# helper -> host: b"R" (ready, once), then per command b"S" (started) and b"X<exit code>".
HELPER = r"""
import array, ctypes, os, select, shutil, signal, socket
ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace from commands
def reap():
    while True:  # everything else was killed and is (or becomes) our child: wait for all of it
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
def wipe_shm():
    try:
        for entry in os.scandir("/dev/shm"):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        return not any(os.scandir("/dev/shm"))
    except (OSError, RecursionError):
        return False
def kill_all():
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
sock.send(b"R")
while True:
    try:
        # close-on-exec (socket.recv_fds drops its flags): only the dup2 copies (0, 1, 2) reach the command
        msg, cmsgs, _, _ = sock.recvmsg(1 << 18, socket.CMSG_LEN(2 * 4), socket.MSG_CMSG_CLOEXEC)
        fds = [fd for level, kind, data in cmsgs if (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
               for fd in array.array("i", data[: len(data) - len(data) % 4])]
    except OSError:
        break
    if not msg:
        break
    if msg == b"K" or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        continue
    script, _, command = msg.partition(b"\0")
    sock.send(b"S")  # before the spawn: "S" means the command may have run, so it is never run twice
    pid = os.posix_spawn(
        b"/bin/sh",
        [b"/bin/sh", b"-c", script, b"sandbox", command],
        os.environ,
        file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in ((fds[0], 0), (fds[1], 1), (fds[1], 2))],
        setsid=True,
        # Python ignores SIGPIPE and SIGXFSZ; the command gets the defaults (a file-size kill is reported)
        setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ),
    )
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    gone = False
    while True:
        ready = select.select([sock, pidfd], [], [])[0]
        if pidfd in ready:
            break
        if not sock.recv(64):
            gone = True
        kill_all()
    os.close(pidfd)
    status = os.waitpid(pid, 0)[1]
    kill_all()  # what the command left behind dies with it
    reap()
    if gone:
        break
    code = os.waitstatus_to_exitcode(status)
    sock.send(b"X%d" % (code if code >= 0 else 128 - code))
    # after the reply (nothing of the box runs now); the next request waits until it is done. What cannot be
    # removed ends the box: the next command runs cold, and a new init starts with an empty /dev/shm
    if not wipe_shm():
        break
kill_all()
"""


class WarmInitError(RuntimeError):
    """The box's init could not start or died; the caller runs the command cold."""


class WarmInit:
    """One running bubblewrap of one box, its helper as pid 1; runs one command at a time."""

    def __init__(self, workspace: Path, helper: Path | None = None) -> None:
        """`helper`: the compiled helper to run (`helper_binary`); None runs HELPER with the box's Python."""
        self.workspace = workspace
        self.busy = threading.Lock()
        self.last_used = time.monotonic()
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = host
        binary = -1
        extra: tuple[str, ...] = WARM_OPTIONS
        try:
            if helper is not None:  # bubblewrap copies it into the box, read-only and executable
                binary = os.open(helper, os.O_RDONLY | os.O_CLOEXEC)
                inner = [HELPER_PATH, str(child.fileno())]
                extra = ("--perms", "0555", "--ro-bind-data", str(binary), HELPER_PATH, *WARM_OPTIONS)
            else:
                inner = [PYTHON, "-I", "-S", "-c", BOOT, str(child.fileno())]
            self.process = subprocess.Popen(
                box_argv(workspace, inner, network=False, extra=extra),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=workspace,
                env=SANDBOX_ENV,
                start_new_session=True,
                pass_fds=(child.fileno(),) if binary < 0 else (child.fileno(), binary),
            )
        except BaseException:
            host.close()
            raise
        finally:
            child.close()
            if binary >= 0:
                os.close(binary)
        host.settimeout(START_SECONDS)
        try:
            if helper is None:
                host.send(HELPER.encode())
            ready = host.recv(16)
        except OSError:
            ready = b""
        if ready != b"R":
            self.stop()
            raise WarmInitError(f"the warm init of {workspace} did not start")
        host.setblocking(False)  # read after `select` or from the event loop (`_readable`)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill_command(self) -> None:
        """Ask the helper to kill the running command (any thread; harmless when none runs)."""
        with contextlib.suppress(OSError):
            self.sock.send(b"K")

    def stop_later(self) -> None:
        """`stop` on a thread of its own: the event loop (and a lease) must not wait for the exit."""
        threading.Thread(target=self.stop, name="sandbox-warm-stop", daemon=True).start()

    def stop(self) -> None:
        """Kill the whole box: bubblewrap dies, and with it (pid namespace) everything inside."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(REAP_WAIT_SECONDS)
        self.sock.close()


class WarmJob(CommandJob):
    """A `CommandJob` run by the box's warm init; falls back to the cold path when it cannot."""

    def __init__(self, pool: WarmPool, key: str, workspace: Path, command: str, **kwargs: object) -> None:
        super().__init__(workspace, command, **kwargs)  # type: ignore[arg-type]
        self.pool = pool
        self.key = key
        self._init: WarmInit | None = None

    def kill(self) -> None:
        super().kill()
        with self._lock:
            if self._init is not None:
                self._init.kill_command()

    def run(self) -> RunResult:
        if self.network:
            return super().run()
        init = self.pool.lease(self.key, self.workspace)
        if init is None:  # busy with another command, or it cannot start: today's path
            return super().run()
        try:
            result = self._run_warm(init)
        finally:
            init.last_used = time.monotonic()
            init.busy.release()
        return super().run() if result is None else result

    async def arun(self) -> RunResult | None:
        """This command on the box's init, from the event loop: no worker-thread hop (~0.14 ms of a
        ~1.5 ms command here). None when `run` must take it in a worker thread: input to feed, a
        network, a box flagged full (measured before every command), or no idle init."""
        if self.network or self.stdin is not None or self.full_flag is None:
            return None
        # one lstat in the box's own directory, as cheap as the lock's open and flock just before it
        if os.path.lexists(self.full_flag):  # noqa: ASYNC240
            return None
        init = self.pool.lease(self.key, self.workspace)
        if init is None:
            return None
        try:
            return await self._arun_warm(init)
        finally:
            init.last_used = time.monotonic()
            init.busy.release()

    async def _arun_warm(self, init: WarmInit) -> RunResult | None:
        """`_run_warm` from the event loop. Output pouring in is read up to the cap before the loop is
        yielded (the cap ends it); a cancelled command is killed and drained (`_reaped`)."""
        self._started = time.monotonic()
        out_r, out_w = os.pipe()
        in_r = os.open(os.devnull, os.O_RDONLY)
        os.set_blocking(out_r, False)
        replies = _Replies(init.sock)
        try:
            request = _request(shell_script(self.limits), self.command)
            if request is None:
                return None
            try:
                socket.send_fds(init.sock, [request], [in_r, out_w])
            except OSError:  # the helper is gone and the command never reached it
                self.pool.discard(self.key, init, wait=False)
                return None
            os.close(out_w)
            os.close(in_r)
            out_w = in_r = -1
            try:
                pumped = await self._apump(out_r, self.timeout, replies)
                _, truncated, timed_out, over_disk = pumped
                if truncated or timed_out or over_disk:
                    init.kill_command()
                started, reply = await replies.finish()
            except asyncio.CancelledError:
                init.kill_command()  # the box stays locked (by our caller) until the helper reaped it
                await _to_the_end(self._reaped(init, out_r, replies))
                raise
            if started != b"S":  # the helper died before it ran the command: run it cold
                self.pool.discard(self.key, init, wait=False)
                return None
            exit_code = int(reply[1:]) if reply.startswith(b"X") else None
        finally:
            for fd in (out_w, in_r, out_r):
                if fd >= 0:
                    os.close(fd)
        if exit_code is None and not timed_out:
            self.pool.discard(self.key, init, wait=False)  # the helper died or hung: the next command restarts it
        # deciding reads the box's filesystem through its open lock (`fstatvfs`, no path lookup)
        measure = self._measure_after(over_disk)
        if measure or over_disk:  # walking the workspace, or flagging it full, blocks: a worker thread
            over_disk = await asyncio.to_thread(self._checked_after, over_disk, measure)
        return RunResult.of(pumped, exit_code, over_disk)

    async def _reaped(self, init: WarmInit, out: int, replies: _Replies) -> None:
        """After a kill: the rest of the output and the helper's replies, or the init is given up."""
        with contextlib.suppress(OSError):
            await self._apump(out, REAP_WAIT_SECONDS, replies)
            if (await replies.finish())[1].startswith(b"X"):
                return
        self.pool.discard(self.key, init, wait=False)

    async def _apump(
        self, out: int, seconds: float, replies: _Replies | None = None
    ) -> tuple[list[bytes], bool, bool, bool]:
        """`_pump` on the event loop, for a non-blocking `out`, no input and a limit of `seconds`.

        With the helper's `replies`, the loop waits on the output and the helper's socket together
        (from its second wait on: a first wake-up comes from the output, after the helper's "S"):
        once "X" is in, every process of the box is dead, so the output is read to its end without
        another wait (unless a read would still block: then it waits for the output alone)."""
        chunks: list[bytes] = []
        size = 0
        started = time.monotonic()
        deadline = started + seconds
        next_poll = started + DISK_POLL_SECONDS
        waited = False
        while True:
            try:
                chunk = os.read(out, 65536)
            except BlockingIOError:
                if waited and replies is not None and not replies.done and replies.read():
                    continue  # "X" came: what it wrote last is in the pipe now
                now = time.monotonic()
                if now >= deadline:
                    return chunks, False, True, False
                if now >= next_poll:
                    if await asyncio.to_thread(self._over_disk):
                        return chunks, False, False, True
                    next_poll = time.monotonic() + poll_interval(time.monotonic() - now)
                    continue
                watched = (replies.fd,) if waited and replies is not None and not replies.done else ()
                await _readable(min(deadline, next_poll) - now, out, *watched)
                waited = True
                continue
            if not chunk:
                return chunks, False, False, False
            size = self._kept(chunks, size, chunk)
            if size > self.cap:
                return chunks, True, False, False

    def _run_warm(self, init: WarmInit) -> RunResult | None:
        limits = self._limits_now()
        out_r, out_w = os.pipe()
        in_r, in_w = os.pipe() if self.stdin is not None else (os.open(os.devnull, os.O_RDONLY), -1)
        stdout = os.fdopen(out_r, "rb", buffering=0)
        stdin = os.fdopen(in_w, "wb", buffering=0) if in_w >= 0 else None
        try:
            with self._lock:
                if self._killed:
                    return RunResult(output=b"", exit_code=None, timed_out=True)
                request = _request(shell_script(limits), self.command)
                if request is None:
                    return None
                try:
                    socket.send_fds(init.sock, [request], [in_r, out_w])
                except OSError:  # the helper is gone and the command never reached it
                    self.pool.discard(self.key, init)
                    return None
                self._init = init
            os.close(out_w)
            os.close(in_r)
            out_w = in_r = -1
            pumped = self._pump(stdout, stdin)
            _, truncated, timed_out, over_disk = pumped
            if truncated or timed_out or over_disk:
                init.kill_command()
            # read after the output, not before: one wake-up less per command
            if _recv(init.sock, START_SECONDS) != b"S":  # the helper died before it ran the command: run it cold
                self.pool.discard(self.key, init)
                return None
            reply = _recv(init.sock, REAP_WAIT_SECONDS)
            exit_code = int(reply[1:]) if reply.startswith(b"X") else None
        finally:
            for fd in (out_w, in_r):
                if fd >= 0:
                    os.close(fd)
            stdout.close()
            if stdin is not None:
                with contextlib.suppress(OSError):
                    stdin.close()
            with self._lock:
                self._init = None
        if exit_code is None and not timed_out:
            self.pool.discard(self.key, init)  # the helper died or hung: the next command restarts it
        return RunResult.of(pumped, exit_code, self._checked_after(over_disk))


def _request(script: str, command: str) -> bytes | None:
    """A command's request to the helper; None for one no shell can take (`unrunnable`: the cold
    path says why to the agent, and the helper never sees it)."""
    if unrunnable(command) is not None:
        return None
    return script.encode() + b"\0" + os.fsencode(command)


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Await `work` until it is done, whatever cancels come meanwhile (the caller re-raises its own).

    `asyncio.shield` alone returns at the next cancel, with `work` still running: a reap cut short
    so would free the box while the killed command's replies are still due."""
    task = asyncio.ensure_future(work)
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    task.result()


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _readable(seconds: float, *sources: int) -> None:
    """Until one of `sources` can be read (or `seconds` passed), on the event loop."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    for source in sources:
        loop.add_reader(source, _settle, ready)
    timer = loop.call_later(seconds, _settle, ready)
    try:
        await ready
    finally:
        timer.cancel()
        for source in sources:
            loop.remove_reader(source)


class _Replies:
    """The helper's replies to one command, taken as they come: b"S" (started), then b"X<exit code>"."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.started = b""
        self.exited = b""
        self.closed = False  # EOF or an error: the helper is gone (or a reply never came)

    @property
    def done(self) -> bool:
        return self.closed or bool(self.exited)

    def read(self) -> bool:
        """Take what the helper has sent so far, without blocking; whether its replies are done."""
        while not self.done:
            try:
                message = self.sock.recv(64)
            except BlockingIOError:
                return False
            except OSError:
                message = b""
            if not message:
                self.closed = True
            elif not self.started:
                self.started = message
            else:
                self.exited = message
        return True

    async def finish(self) -> tuple[bytes, bytes]:
        """The "S" and the "X<exit code>" (b"" for a reply that never came), each waited for at most
        its limit: START_SECONDS for the helper to take the command, REAP_WAIT_SECONDS to reap it."""
        if not self.read() and not self.started:
            await _readable(START_SECONDS, self.fd)
            self.read()
        if self.started != b"S":
            return self.started, b""
        if not self.read():
            await _readable(REAP_WAIT_SECONDS, self.fd)
            self.read()
        return self.started, self.exited


def _recv(sock: socket.socket, timeout: float) -> bytes:
    """One message, or b"" on EOF, error or timeout (bubblewrap holds a copy of the helper's end:
    a dead helper reads as EOF once bubblewrap exits). The socket stays blocking: no fcntl per call."""
    try:
        if not select.select([sock], [], [], timeout)[0]:
            return b""
        return sock.recv(64)
    except OSError:
        return b""


class WarmPool:
    """The live inits of this process, by box id: LRU-capped, idle ones stopped by a watcher thread."""

    def __init__(self, warm_seconds: float, max_inits: int, helper: Path | Literal["python"] | None = None) -> None:
        """`helper`: None for the compiled one when built (else the Python one), a compiled binary, or "python"."""
        self.warm_seconds = warm_seconds
        self.max_inits = max_inits
        self._helper = helper
        self._inits: OrderedDict[str, WarmInit] = OrderedDict()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._starter: threading.Thread | None = None
        self._queue: queue.SimpleQueue[tuple[str, Path]] = queue.SimpleQueue()
        self._starting: set[str] = set()
        self._cancelled: set[str] = set()  # boxes deleted while their init was starting

    @property
    def enabled(self) -> bool:
        return self.warm_seconds > 0 and self.max_inits > 0

    @property
    def helper(self) -> Path | None:
        """The compiled helper its inits run, None for the Python one; looked up when the first init
        starts (on the starter thread: it asks bubblewrap for its options), not on the event loop."""
        if self._helper is None:
            return helper_binary()
        return None if self._helper == "python" else self._helper

    def __len__(self) -> int:
        with self._lock:
            return len(self._inits)

    def init_of(self, key: str) -> WarmInit | None:
        """The box's live init, if any (the bench and tests look at its process)."""
        with self._lock:
            return self._inits.get(key)

    def lease(self, key: str, workspace: Path) -> WarmInit | None:
        """The box's init, locked for one command; None (run cold) when busy, starting or unavailable."""
        evicted: list[WarmInit] = []
        with self._lock:
            init = self._inits.get(key)
            if init is not None and not init.busy.acquire(blocking=False):
                return None
            if init is not None and (not init.alive or init.workspace != workspace):
                del self._inits[key]
                evicted.append(init)
                init.busy.release()
                init = None
            if init is not None:
                self._inits.move_to_end(key)
        for old in evicted:
            old.stop_later()  # a lease comes from the event loop too (`WarmJob.arun`)
        if init is None:
            self._start_later(key, workspace)
        return init

    def _start_later(self, key: str, workspace: Path) -> None:
        """Start the box's init on the starter thread; this command runs cold meanwhile, so a first
        command (or the first after a crash) costs what a cold one does, not an interpreter start."""
        with self._lock:
            if key in self._starting:
                return
            self._starting.add(key)
            if self._starter is None or not self._starter.is_alive():
                # one long-lived thread: bubblewrap's --die-with-parent follows the thread that started it
                self._starter = threading.Thread(target=self._start_loop, name="sandbox-warm-start", daemon=True)
                self._starter.start()
        self._queue.put((key, workspace))

    def _start_loop(self) -> None:
        while True:
            key, workspace = self._queue.get()
            with self._lock:
                if key in self._cancelled:  # deleted (or the pool stopped) while it waited: start nothing
                    self._starting.discard(key)
                    self._cancelled.discard(key)
                    continue
            try:
                init: WarmInit | None = WarmInit(workspace, self.helper)
            except (OSError, WarmInitError) as error:
                with self._lock:
                    deleted = key in self._cancelled  # the box went while its init started: expected
                if not deleted:
                    logger.warning("sandbox warm init failed, commands run cold: %s", error)
                init = None
            evicted: list[WarmInit] = []
            with self._lock:
                self._starting.discard(key)
                if init is not None and (key in self._cancelled or key in self._inits):
                    evicted.append(init)
                elif init is not None:
                    self._inits[key] = init
                    evicted += self._over_cap()
                    self._start_watcher()
                self._cancelled.discard(key)
            for old in evicted:
                old.stop()

    def _over_cap(self) -> list[WarmInit]:
        """Idle inits beyond the cap, least recently used first (a busy one stops once idle)."""
        out: list[WarmInit] = []
        for key in list(self._inits):
            if len(self._inits) <= self.max_inits:
                break
            init = self._inits[key]
            if init.busy.acquire(blocking=False):
                del self._inits[key]
                init.busy.release()
                out.append(init)
        return out

    def discard(self, key: str, init: WarmInit, *, wait: bool = True) -> None:
        with self._lock:
            if self._inits.get(key) is init:
                del self._inits[key]
        if wait:
            init.stop()
        else:
            init.stop_later()

    def stop(self, key: str) -> None:
        """Stop the box's init (box deleted); waits for a running command's lock to be released."""
        with self._lock:
            init = self._inits.pop(key, None)
            if key in self._starting:
                self._cancelled.add(key)
        if init is not None:
            init.stop()

    def stop_all(self) -> None:
        with self._lock:
            inits = list(self._inits.values())
            self._inits.clear()
            self._cancelled |= self._starting
        for init in inits:
            init.stop()

    def _start_watcher(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch, name="sandbox-warm-idle", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.warm_seconds / 4))
            now = time.monotonic()
            idle: list[WarmInit] = []
            with self._lock:
                for key, init in list(self._inits.items()):
                    if now - init.last_used >= self.warm_seconds and init.busy.acquire(blocking=False):
                        del self._inits[key]
                        init.busy.release()
                        idle.append(init)
                empty = not self._inits
            for init in idle:
                init.stop()
            if empty:
                with self._lock:
                    if not self._inits:
                        self._watcher = None
                        return


@functools.cache
def helper_binary() -> Path | None:
    """The compiled helper (`make setup`), or None when it is missing, older than its source (a
    checkout changed it since the build) or bubblewrap cannot copy it in (`--perms`, 0.5+)."""
    try:
        built = HELPER_BINARY.stat().st_mtime
    except OSError:
        logger.info("sandbox warm helper %s is not built (`make setup`): warm boxes run the Python one", HELPER_BINARY)
        return None
    if HELPER_SOURCE.exists() and HELPER_SOURCE.stat().st_mtime > built:
        logger.warning(
            "sandbox warm helper %s is older than %s: run `make setup`; warm boxes run the Python one meanwhile",
            HELPER_BINARY,
            HELPER_SOURCE.name,
        )
        return None
    if "--perms" not in bwrap_help():
        logger.warning("bubblewrap has no --perms (0.5+): warm boxes run the Python helper")
        return None
    return HELPER_BINARY


@functools.cache
def shared_pool(warm_seconds: float = DEFAULT_WARM_SECONDS, max_inits: int = DEFAULT_WARM_MAX) -> WarmPool:
    """The process's pool for these settings: the networked and plain providers share one cap."""
    return WarmPool(warm_seconds, max_inits)
