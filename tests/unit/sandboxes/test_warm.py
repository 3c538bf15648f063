"""Warm boxes (warm.py): one running bubblewrap per box keeps every per-command guarantee of the cold path.

Every test that runs commands runs twice: on the helper in C (`make setup` builds it; compiled here
when it is not built) and on the Python one (the fallback without a compiler)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest

from deep_agent_service.sandboxes import warm
from deep_agent_service.sandboxes.errors import SandboxBusyError, SandboxGoneError
from deep_agent_service.sandboxes.isolation import Limits
from deep_agent_service.sandboxes.local import LocalProvider, LocalSandbox
from deep_agent_service.sandboxes.registry import build_provider
from deep_agent_service.sandboxes.warm import HELPER_PATH, HELPER_SOURCE, WarmInit, WarmPool, helper_binary
from deep_agent_service.settings import SandboxSettings, Settings
from tests.support.sandbox_dirs import sandbox_root

LIMITS = Limits(timeout_seconds=5, output_bytes=16 * 1024, memory_mb=512, processes=64, file_mb=16, disk_mb=48)


@pytest.fixture(scope="session")
def compiled_helper() -> Path:
    """The helper in C: the one `make setup` built, else compiled here from the same source."""
    built = helper_binary()
    if built is not None:
        return built
    compiler = shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler: only the Python helper is tested")
    path = sandbox_root("warm-helper-") / "warm-helper"
    subprocess.run([compiler, "-O2", "-Wall", "-Werror", "-o", str(path), str(HELPER_SOURCE)], check=True)
    return path


@pytest.fixture(params=["c", "python"])
def helper(request: pytest.FixtureRequest) -> Path | Literal["python"]:
    return request.getfixturevalue("compiled_helper") if request.param == "c" else "python"


@pytest.fixture
async def pool(helper: Path | Literal["python"]) -> AsyncIterator[WarmPool]:
    pool = WarmPool(60, 4, helper)
    yield pool
    await asyncio.to_thread(pool.stop_all)


@pytest.fixture
def provider(pool: WarmPool) -> LocalProvider:
    return LocalProvider(sandbox_root(), limits=LIMITS, warm=pool)


async def _box(provider: LocalProvider, name: str = "box") -> LocalSandbox:
    """A box whose warm init is running (its first command ran cold and started it)."""
    box = (await provider.get_or_create(name, {}, 3600)).sandbox
    assert isinstance(box, LocalSandbox)
    assert (await box.aexecute("true")).exit_code == 0
    await _init(provider.warm, box)
    return box


def kill_helper(init: WarmInit) -> None:
    """Crash the box's helper from the host (nothing inside the box can): SIGKILL bubblewrap's child."""
    children = Path(f"/proc/{init.process.pid}/task/{init.process.pid}/children").read_text()
    os.kill(int(children.split()[0]), signal.SIGKILL)


async def _wait_for(condition: Callable[[], object], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def _init(pool: WarmPool, box: LocalSandbox) -> WarmInit:
    """The box's init: a first command runs cold and starts one in the background."""
    assert await _wait_for(lambda: pool.init_of(box.id)), "the command should have started a warm init"
    init = pool.init_of(box.id)
    assert init is not None
    return init


async def test_commands_reuse_one_init_and_keep_the_allowlisted_environment(
    provider: LocalProvider, pool: WarmPool
) -> None:
    box = await _box(provider)
    first = await box.aexecute("echo x > /f; id -u")
    pid = (await _init(pool, box)).process.pid
    second = await box.aexecute("cat /f; grep CapEff /proc/self/status; env | cut -d= -f1 | sort")
    assert first.output == "1000\n" and first.exit_code == 0
    assert second.output == "x\nCapEff:\t0000000000000000\nHOME\nLANG\nPATH\nPWD\nTERM\n"
    assert (await _init(pool, box)).process.pid == pid, "the second command ran in the same init"
    assert (await box.aexecute("exit 7")).exit_code == 7


async def test_output_cap_and_rlimits_hold_per_command(provider: LocalProvider) -> None:
    box = await _box(provider)
    capped = await box.aexecute("yes")
    assert capped.truncated and "output exceeded" in capped.output
    assert (await box.aexecute("ulimit -p; ulimit -n")).output == f"{LIMITS.processes}\n{LIMITS.open_files}\n"
    assert (await box.aexecute("echo after")).output == "after\n", "the box works after a capped command"


async def test_timeout_kills_the_whole_group_and_double_forked_escapees(provider: LocalProvider) -> None:
    box = await _box(provider)
    timed = await box.aexecute("(setsid sh -c 'sleep 300 & sleep 301' &); sleep 302", timeout=1)
    assert "time limit" in timed.output and timed.exit_code is None
    left = await box.aexecute("(setsid sleep 303 &); echo started")
    assert left.output == "started\n" and left.exit_code == 0
    survivors = (await box.aexecute("ps -eo args")).output
    assert "sleep 30" not in survivors, survivors


async def test_a_command_cannot_kill_or_trace_the_helper(provider: LocalProvider, pool: WarmPool) -> None:
    box = await _box(provider)
    await box.aexecute("true")
    pid = (await _init(pool, box)).process.pid
    attack = await box.aexecute("kill -9 1; kill -9 -1; cat /proc/1/environ; echo still here")
    assert "still here" in attack.output
    assert "Permission denied" in (await box.aexecute("cat /proc/1/mem; ls -l /proc/1/fd/")).output
    assert (await box.aexecute("echo ok")).output == "ok\n"
    assert (await _init(pool, box)).process.pid == pid, "the init survived the command's attack"


async def test_concurrent_commands_cannot_see_or_kill_each_other(provider: LocalProvider) -> None:
    box = await _box(provider)
    await box.aexecute("true")
    victim = asyncio.create_task(box.aexecute("sleep 2; echo victim alive"))
    await asyncio.sleep(0.5)
    attacker = await box.aexecute("ps -eo args; kill -9 -1; echo attacker done")
    assert "sleep 2" not in attacker.output and "attacker done" in attacker.output
    assert (await victim).output == "victim alive\n"


async def test_a_crashed_helper_is_restarted_on_the_next_command(provider: LocalProvider, pool: WarmPool) -> None:
    box = await _box(provider)
    await box.aexecute("echo x > /kept")
    old = await _init(pool, box)
    kill_helper(old)
    assert (await box.aexecute("cat /kept")).output == "x\n"
    assert (await box.aexecute("cat /kept")).output == "x\n"
    assert (await _init(pool, box)).process.pid != old.process.pid
    assert old.process.poll() is not None


async def test_idle_inits_stop_and_the_next_command_starts_one(helper: Path | Literal["python"]) -> None:
    pool = WarmPool(0.5, 4, helper)
    box = await _box(LocalProvider(sandbox_root(), limits=LIMITS, warm=pool))
    init = await _init(pool, box)
    assert await _wait_for(lambda: init.process.poll() is not None), "the idle init should have stopped"
    assert len(pool) == 0
    assert (await box.aexecute("echo back")).output == "back\n"
    await asyncio.to_thread(pool.stop_all)


async def test_live_inits_are_capped_least_recently_used_first(helper: Path | Literal["python"]) -> None:
    pool = WarmPool(60, 2, helper)
    provider = LocalProvider(sandbox_root(), limits=LIMITS, warm=pool)
    try:
        b0 = await _box(provider, "b0")
        first = await _init(pool, b0)
        b1 = await _box(provider, "b1")
        await b0.aexecute("true")  # b0 is now more recent than b1
        b2 = await _box(provider, "b2")
        assert len(pool) == 2
        assert pool.init_of(b1.id) is None and pool.init_of(b0.id) is first and pool.init_of(b2.id) is not None
        assert (await b1.aexecute("echo b1")).output == "b1\n", "an evicted box runs cold, then warm again"
    finally:
        await asyncio.to_thread(pool.stop_all)


async def test_deleting_a_box_stops_its_init(provider: LocalProvider, pool: WarmPool) -> None:
    box = await _box(provider, "gone")
    await box.aexecute("true")
    init = await _init(pool, box)
    assert await provider.delete("gone")
    assert init.process.poll() is not None and pool.init_of(box.id) is None


async def test_boxes_deleted_while_their_init_waits_start_nothing(
    provider: LocalProvider, pool: WarmPool, caplog: pytest.LogCaptureFixture
) -> None:
    """Each first command queues its box's init; deleting the boxes before the starter reaches them
    starts nothing for them (it used to try, on a deleted workspace, and log a failure each)."""
    boxes = [(await provider.get_or_create(f"brief{i}", {}, 3600)).sandbox for i in range(6)]
    for box in boxes:
        assert (await box.aexecute("true")).exit_code == 0
    for index in range(len(boxes)):
        assert await provider.delete(f"brief{index}")
    assert await _wait_for(lambda: not pool._starting), "the starter should have emptied its queue"
    assert len(pool) == 0
    assert not [r for r in caplog.records if "warm init failed" in r.getMessage()], caplog.text


def test_warm_seconds_zero_is_the_cold_path(tmp_path: Path) -> None:
    cold = build_provider(Settings(sandbox=SandboxSettings(root=str(sandbox_root()), warm_seconds=0)))
    assert isinstance(cold, LocalProvider) and not cold.warm.enabled
    warm = build_provider(Settings(sandbox=SandboxSettings(root=str(sandbox_root()), warm_seconds=30, warm_max=3)))
    assert isinstance(warm, LocalProvider) and warm.warm.enabled and warm.warm.max_inits == 3


async def test_a_warm_command_holds_the_box_lock_against_delete(provider: LocalProvider, pool: WarmPool) -> None:
    """A warm command holds the box's lock file: a delete, from this process or another (the
    reaper), is refused while it runs, and after a cancel until the command is reaped."""
    box = await _box(provider, "held")
    await box.aexecute("true")
    init = await _init(pool, box)
    running = asyncio.create_task(box.aexecute("sleep 1; echo done"))
    await asyncio.sleep(0.3)
    assert init.busy.locked(), "the command runs on the warm init"
    with pytest.raises(SandboxBusyError):
        await provider.delete("held")
    other_process = LocalProvider(provider.root, limits=LIMITS, warm=WarmPool(0, 1))
    assert [info.busy for info in await other_process.list({})] == [True]
    assert (await running).output == "done\n"
    cancelled = asyncio.create_task(box.aexecute("sleep 30"))
    await asyncio.sleep(0.3)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await _wait_for(lambda: not init.busy.locked()), "the cancelled command was killed and reaped"
    assert await provider.delete("held")
    assert init.process.poll() is not None
    with pytest.raises(SandboxGoneError):
        await box.aexecute("true")


async def test_a_cancelled_warm_command_is_reaped_before_the_box_is_released(
    provider: LocalProvider, pool: WarmPool
) -> None:
    """A warm command runs from the event loop: cancelling it kills it, and the cancel returns only
    once the helper has reaped it (box lock and init free), so the init stays and answers the next
    command, which never reads the killed one's reply."""
    box = await _box(provider, "cancelled")
    init = await _init(pool, box)
    running = asyncio.create_task(box.aexecute("sleep 1; echo late > /late.txt"))
    await asyncio.sleep(0.3)
    assert init.busy.locked(), "the command runs on the warm init"
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not init.busy.locked() and pool.init_of(box.id) is init
    assert (await box.aexecute("echo next")).output == "next\n"
    await asyncio.sleep(1.2)
    assert "late.txt" not in (await box.aexecute("ls /")).output
    assert pool.init_of(box.id) is init


async def test_a_warm_command_cancelled_twice_is_still_reaped_before_the_box_is_released(
    provider: LocalProvider, pool: WarmPool
) -> None:
    """A second cancel while the first one's kill is reaped (a client that disconnects as its run is
    stopped) must not cut the wait short: the box would be released with the killed command's replies
    still due, and the next command would read them as its own (exit codes one command behind)."""
    box = await _box(provider, "cancelled-twice")
    init = await _init(pool, box)
    running = asyncio.create_task(box.aexecute("sleep 5"))
    await asyncio.sleep(0.3)
    running.cancel()
    await asyncio.sleep(0)  # the first cancel is in: its kill is being reaped
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not init.busy.locked() and pool.init_of(box.id) is init
    assert (await box.aexecute("exit 3")).exit_code == 3
    assert (await box.aexecute("echo next")).exit_code == 0
    assert pool.init_of(box.id) is init


async def test_warm_commands_make_no_blocking_call_on_the_event_loop(provider: LocalProvider, pool: WarmPool) -> None:
    """`langgraph dev` raises on a blocking call made on its event loop (blockbuster); a warm command
    runs there: quick, polled for the disk cap, over the cap, cancelled."""
    from blockbuster import blockbuster_ctx

    box = await _box(provider, "loop")
    init = await _init(pool, box)
    with blockbuster_ctx():
        assert (await box.aexecute("echo hi")).output == "hi\n"
        assert (await box.aexecute("sleep 0.3; echo slow")).output == "slow\n"
        running = asyncio.create_task(box.aexecute("sleep 5"))
        await asyncio.sleep(0.3)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        filled = await box.aexecute("i=0; while true; do i=$((i+1)); head -c 12000000 /dev/zero > /f$i; done")
        assert "disk cap" in filled.output
    assert pool.init_of(box.id) is init, "every one of them ran on the warm init"
    await box.aexecute("rm -f /f*")


async def test_warm_stdin_big_transfers_and_disk_cap(provider: LocalProvider, pool: WarmPool) -> None:
    box = await _box(provider)
    await box.aexecute("true")
    await _init(pool, box)
    payload = os.urandom(300 * 1024)  # more than a pipe buffer: fed as the pipe takes it
    assert [r.error for r in await box.aupload_files([("/in.bin", payload)])] == [None]
    (back,) = await box.adownload_files(["/in.bin"])
    assert back.content == payload
    filled = await box.aexecute("i=0; while true; do i=$((i+1)); head -c 12000000 /dev/zero > /f$i; done")
    assert "disk cap" in filled.output and filled.exit_code is not None
    assert "File size limit exceeded" in (await box.aexecute("head -c 10 /dev/zero > /g")).output
    await box.aexecute("rm -f /f*")
    assert (await box.aexecute("echo ok")).output == "ok\n"


async def test_output_past_the_pipe_buffer_is_read_whole_up_to_the_cap(pool: WarmPool) -> None:
    """The helper's "X" can arrive while output is still in the pipe: it is read to its end (more than
    a 64 KiB pipe buffer here, and after a pause), and the output cap holds as before."""
    provider = LocalProvider(sandbox_root(), limits=replace(LIMITS, output_bytes=256 * 1024), warm=pool)
    box = await _box(provider)
    init = await _init(pool, box)
    whole = await box.aexecute("head -c 200000 /dev/zero | tr '\\0' a; echo")
    assert whole.output == "a" * 200000 + "\n" and not whole.truncated and whole.exit_code == 0
    paused = await box.aexecute("echo one; sleep 0.3; head -c 100000 /dev/zero | tr '\\0' b; exit 3")
    assert paused.output == "one\n" + "b" * 100000 and paused.exit_code == 3
    capped = await box.aexecute("head -c 300000 /dev/zero | tr '\\0' c; echo never")
    assert capped.truncated and capped.output.startswith("c" * (256 * 1024) + "\n[sandbox: output exceeded")
    assert pool.init_of(box.id) is init, "every one of them ran on the warm init"


async def test_a_background_child_holding_the_output_dies_with_the_command(provider: LocalProvider) -> None:
    """A child left running in the background keeps the output pipe open after the command's shell
    exits: the helper kills it with the command, so the call returns then, not at the time limit."""
    box = await _box(provider)
    init = await _init(provider.warm, box)
    result = await box.aexecute("(setsid sh -c 'while true; do echo tick; sleep 0.01; done' &); echo started")
    assert result.exit_code == 0 and "time limit" not in result.output
    assert "started\n" in result.output
    assert "while true" not in (await box.aexecute("ps -eo args")).output
    assert provider.warm.init_of(box.id) is init


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("echo a\0b > made", "holds a NUL byte"),
        ("echo " + "x" * 140_000 + " > made", "write it to a script file"),
        ("echo \ud800 > made", "not valid text"),
    ],
    ids=["nul", "too-long", "unencodable"],
)
async def test_a_command_no_shell_can_take_is_answered_with_why_and_leaves_the_init(
    provider: LocalProvider, pool: WarmPool, command: str, reason: str
) -> None:
    """It used to raise out of `aexecute` (the agent's run failed) or, on the warm path, end the
    helper; now the agent reads why, nothing ran, and the init stays."""
    box = await _box(provider)
    init = await _init(pool, box)
    result = await box.aexecute(command)
    assert reason in result.output and "the command did not run" in result.output
    assert result.exit_code is None
    assert (await box.aexecute("ls made; echo still warm")).output.endswith("still warm\n")
    assert "No such file" in (await box.aexecute("ls made")).output
    assert pool.init_of(box.id) is init


async def test_a_command_holds_only_its_stdin_stdout_and_stderr(provider: LocalProvider) -> None:
    """Nothing the helper holds reaches a command: not its socket, not the request's own copies of
    the pipes (they come close-on-exec; the Python helper's `socket.recv_fds` drops that flag)."""
    box = await _box(provider)
    assert (await box.aexecute("ls /proc/$$/fd")).output == "0\n1\n2\n"


async def test_dev_shm_is_emptied_after_each_command(provider: LocalProvider, pool: WarmPool) -> None:
    """/dev/shm outlives a command in a warm box: the helper empties it after each one, following no
    symlink; what it cannot remove ends the box (the next command starts from an empty one)."""
    box = await _box(provider)
    init = await _init(pool, box)
    made = await box.aexecute(
        "mkdir -p /tmp/kept /dev/shm/a/b/c && echo x > /tmp/kept/f && echo y > /dev/shm/a/b/c/g && "
        "ln -s /tmp/kept /dev/shm/link && mkfifo /dev/shm/fifo && echo z > /dev/shm/.hidden && ls -A /dev/shm"
    )
    assert made.output.split() == [".hidden", "a", "fifo", "link"]
    assert (await box.aexecute("ls -A /dev/shm; cat /tmp/kept/f")).output == "x\n"
    assert pool.init_of(box.id) is init
    deep = "/".join(["/dev/shm"] + ["d"] * 100)
    await box.aexecute(f"mkdir -p {deep} && mkdir -p /dev/shm/locked/in && chmod 000 /dev/shm/locked")
    assert (await box.aexecute("ls -A /dev/shm")).output == ""


async def test_the_compiled_helper_is_read_only_in_the_box_and_not_in_its_workspace(
    compiled_helper: Path,
) -> None:
    pool = WarmPool(60, 4, compiled_helper)
    try:
        provider = LocalProvider(sandbox_root(), limits=LIMITS, warm=pool)
        box = await _box(provider)
        shown = await box.aexecute(f"ps -o args= -p 1; echo x > {HELPER_PATH}")
        assert shown.output.startswith(f"{HELPER_PATH} ") and "Read-only file system" in shown.output
        assert not [path for path in box.workspace.rglob("*") if "warm-helper" in path.name]
    finally:
        await asyncio.to_thread(pool.stop_all)


def test_a_missing_or_stale_build_falls_back_to_the_python_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout that changed the C source since `make setup` must not run the old binary."""
    binary = tmp_path / "warm-helper"
    monkeypatch.setattr(warm, "HELPER_BINARY", binary)
    helper_binary.cache_clear()
    try:
        assert helper_binary() is None and WarmPool(60, 4).helper is None
        binary.write_bytes(b"")
        os.utime(binary, (0, HELPER_SOURCE.stat().st_mtime - 1))
        helper_binary.cache_clear()
        assert helper_binary() is None
        os.utime(binary, (0, HELPER_SOURCE.stat().st_mtime + 1))
        helper_binary.cache_clear()
        assert helper_binary() == binary and WarmPool(60, 4).helper == binary
        assert WarmPool(60, 4, "python").helper is None
    finally:
        helper_binary.cache_clear()
