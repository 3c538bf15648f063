"""The local provider directly: create races, persistence, and the escape suite (each an assertion)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes.errors import SandboxGoneError
from deep_agent_service.sandboxes.isolation import Isolation, Limits, disk_usage
from deep_agent_service.sandboxes.local import LocalProvider, LocalSandbox
from deep_agent_service.sandboxes.warm import WarmPool
from deep_agent_service.settings import SandboxSettings, Settings
from tests.support.sandbox_dirs import sandbox_root
from tests.support.services import tcp_reachable

LIMITS = Limits(timeout_seconds=3, output_bytes=64 * 1024, memory_mb=512, processes=64, file_mb=16, disk_mb=48)


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(sandbox_root(), limits=LIMITS)


@pytest.fixture
async def box(provider: LocalProvider) -> AsyncIterator[SandboxBackendProtocol]:
    acquired = await provider.get_or_create("box", {"scope": "thread"}, 3600)
    yield acquired.sandbox


async def test_concurrent_creates_end_with_one_sandbox(provider: LocalProvider) -> None:
    results = await asyncio.gather(*(provider.get_or_create("race", {}, 60) for _ in range(12)))
    assert sum(r.created for r in results) == 1
    assert len({r.sandbox.id for r in results}) == 1
    assert [info.name for info in await provider.list({})] == ["race"]


def test_two_processes_racing_create_one_sandbox() -> None:
    script = (
        "import asyncio, sys; from pathlib import Path; "
        "from deep_agent_service.sandboxes.local import LocalProvider; "
        "p = LocalProvider(Path(sys.argv[1])); "
        "r = asyncio.run(p.get_or_create('shared', {}, 60)); print(r.sandbox.id, r.created)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    shared = sandbox_root()
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(shared)], stdout=subprocess.PIPE, env=env) for _ in range(4)
    ]
    lines = [p.communicate(timeout=60)[0].decode().split() for p in procs]
    assert len({line[0] for line in lines}) == 1, lines
    assert [line[1] for line in lines].count("True") == 1, lines


async def test_files_persist_between_commands_and_file_tools_see_them(box: SandboxBackendProtocol) -> None:
    await box.aexecute("echo x > f.txt")
    assert (await box.aexecute("cat /f.txt")).output == "x\n"
    read = await box.aread("/f.txt")
    assert read.file_data is not None and read.file_data["content"] == "x"
    await box.awrite("/notes/a.md", "hello")
    assert (await box.aexecute("cat notes/a.md")).output == "hello"


async def test_deleted_sandbox_is_gone_and_recreate_says_why(provider: LocalProvider) -> None:
    first = await provider.get_or_create("b", {}, 60)
    assert await provider.delete("b", reason="expired (idle)")
    with pytest.raises(SandboxGoneError):
        await first.sandbox.aexecute("true")
    again = await provider.get_or_create("b", {}, 60)
    assert again.created and again.replaced == "expired (idle)"
    assert again.sandbox.id != first.sandbox.id


def _exists(path: str | Path) -> bool:
    return Path(path).exists()


# --- the escape suite: every attempt is contained and says so ---


async def test_cannot_read_files_outside_the_workspace(box: SandboxBackendProtocol, tmp_path: Path) -> None:
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("TOP-SECRET")
    project_env = PROJECT_ROOT / ".env"
    for path in (secret, project_env, Path("/etc/shadow"), Path("/root/.bashrc")):
        result = await box.aexecute(f"cat {path}")
        assert result.exit_code != 0 and "No such file" in result.output, (path, result)
    assert "No such file" in (await box.aexecute("ls /root")).output
    downloaded = await box.adownload_files([str(secret), "/etc/shadow"])
    assert all(d.content is None for d in downloaded)


async def test_cannot_write_outside_the_workspace(box: SandboxBackendProtocol, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    result = await box.aexecute(f"echo pwned > /usr/pwned; echo pwned > {target}; echo pwned > /etc/pwned")
    assert "Read-only file system" in result.output
    assert not _exists("/usr/pwned") and not _exists(target)
    assert "No such file" in (await box.aexecute("cat /etc/pwned")).output  # /etc is a per-command tmpfs
    uploaded = await box.aupload_files([("/usr/pwned", b"x")])
    assert uploaded[0].error is not None and not _exists("/usr/pwned")


async def test_symlinks_do_not_lead_out(box: SandboxBackendProtocol, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-ONLY")
    await box.aexecute(f"ln -s {secret} /link")  # resolved inside the sandbox, where that path does not exist
    downloaded = await box.adownload_files(["/link"])
    assert downloaded[0].content is None and downloaded[0].error == "file_not_found"
    assert "HOST-ONLY" not in (await box.aexecute("cat /link")).output


async def test_no_network(box: SandboxBackendProtocol) -> None:
    probe = "import socket; socket.create_connection(('{}', {}), timeout=2)"
    if tcp_reachable("127.0.0.1", 5432):  # the host's PostgreSQL answers out here ...
        result = await box.aexecute(f'python3 -c "{probe.format("127.0.0.1", 5432)}"')
        assert result.exit_code != 0 and "Connection refused" in result.output  # ... but not in there
    result = await box.aexecute(f'python3 -c "{probe.format("pypi.org", 443)}"')
    assert result.exit_code != 0 and "gaierror" in result.output


async def test_provider_keys_and_secrets_are_not_in_the_environment(
    box: SandboxBackendProtocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("JWT_SECRET", "also-secret")
    output = (await box.aexecute("env")).output
    assert "sk-must-not-leak" not in output and "also-secret" not in output
    assert sorted(line.split("=")[0] for line in output.splitlines()) == ["HOME", "LANG", "PATH", "PWD", "TERM"]


def _host_processes() -> int:
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


async def test_fork_bomb_is_contained(box: SandboxBackendProtocol) -> None:
    before = _host_processes()
    result = await box.aexecute("f(){ f | f & }; f; sleep 1; echo bomb-done", timeout=2)
    # Either the process limit ended it or the time limit killed the whole tree; nothing is left over.
    assert "fork" in result.output.lower() or "time limit and was killed" in result.output
    for _ in range(120):  # the kernel tears the killed tree down; nothing outlives it
        if _host_processes() < before + 10:
            break
        await asyncio.sleep(0.5)
    assert _host_processes() < before + 10
    after = await box.aexecute("echo still-usable")
    assert after.output == "still-usable\n"


async def test_huge_output_is_capped_and_flagged(box: SandboxBackendProtocol) -> None:
    result = await box.aexecute("head -c 1073741824 /dev/zero | tr '\\0' y")
    assert result.truncated
    assert len(result.output.encode()) < LIMITS.output_bytes + 500
    assert "output exceeded" in result.output


async def test_sleep_is_killed_at_the_time_limit(box: SandboxBackendProtocol) -> None:
    result = await box.aexecute("sleep 1000", timeout=1)
    assert result.exit_code is None
    assert "time limit and was killed" in result.output
    assert (await box.aexecute("echo alive")).output == "alive\n"


async def test_a_cancelled_command_is_killed(box: SandboxBackendProtocol) -> None:
    running = asyncio.create_task(box.aexecute("sleep 1; echo late > /late.txt"))
    await asyncio.sleep(0.3)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await asyncio.sleep(1.5)
    assert "late.txt" not in (await box.aexecute("ls /")).output


async def test_big_transfers_pass_through_the_command_pipes_intact(box: SandboxBackendProtocol) -> None:
    payload = os.urandom(3 * 1024 * 1024)  # far more than a pipe buffer, both ways
    assert [r.error for r in await box.aupload_files([("/big.bin", payload)])] == [None]
    (downloaded,) = await box.adownload_files(["/big.bin"])
    assert downloaded.content == payload


async def test_memory_limit(box: SandboxBackendProtocol) -> None:
    result = await box.aexecute("python3 -c 'x = bytearray(2 * 1024 ** 3)'")
    assert result.exit_code != 0 and "MemoryError" in result.output


async def test_filling_the_disk_is_stopped_at_the_caps(box: SandboxBackendProtocol) -> None:
    assert isinstance(box, LocalSandbox)
    one_big = await box.aexecute("head -c 200000000 /dev/zero > /big")
    assert "File size limit exceeded" in one_big.output
    many = await box.aexecute("i=0; while true; do i=$((i+1)); head -c 15000000 /dev/zero > /f$i; done", timeout=3)
    assert "disk cap" in many.output
    assert many.exit_code is not None, "stopped by the disk cap, not by the time limit"
    assert disk_usage(box.workspace) > LIMITS.disk_mb * 1024 * 1024
    assert "disk cap" in (await box.aexecute("true")).output  # every result says so until files go
    full = disk_usage(box.workspace)
    more = await box.aexecute("head -c 15000000 /dev/zero > /more; echo x >> /f1")  # over the cap: nothing grows
    assert "File size limit exceeded" in more.output and disk_usage(box.workspace) <= full + 4096, more.output
    await box.aexecute("rm -f /f* /big /more")  # ... but a full box can still be cleaned up
    assert (await box.aexecute("echo freed > /ok; cat /ok")).output == "freed\n"


async def test_quick_writers_are_caught_once_a_poll_interval_of_commands_ran(provider: LocalProvider) -> None:
    """The workspace is not walked after every command (`DiskClock`), so an attacker splits the
    filling into commands too quick for any poll: it is still caught, within one poll interval of
    command time, the box is flagged, and nothing grows after that."""
    box = (await provider.get_or_create("quick", {}, 3600)).sandbox
    assert isinstance(box, LocalSandbox)
    cap = LIMITS.disk_mb * 1024 * 1024
    for index in range(2000):
        result = await box.aexecute(f"head -c 4000000 /dev/zero > /q{index}")
        if "disk cap" in result.output:
            break
    else:
        pytest.fail("2,000 quick writes of 4 MB each were never reported over the disk cap")
    full = disk_usage(box.workspace)
    assert full > cap and (box.workspace.parent / "full").exists()
    more = await box.aexecute("head -c 4000000 /dev/zero > /more; echo x >> /q0")
    assert "File size limit exceeded" in more.output and disk_usage(box.workspace) <= full + 4096, more.output
    await box.aexecute("rm -f /q* /more")
    assert (await box.aexecute("echo freed > /ok; cat /ok")).output == "freed\n"


async def test_a_fast_writer_is_caught_by_the_command_that_wrote_it(provider: LocalProvider) -> None:
    """Past the cap in one command quicker than a poll interval (60 MB in a few tens of ms, right
    after a measurement): the filesystem's used space grew by more than the box's headroom, so that
    command's result reports the cap and the next one cannot grow the box."""
    box = (await provider.get_or_create("fast", {}, 3600)).sandbox
    assert isinstance(box, LocalSandbox)
    await box.aexecute("true")  # measured now: by time alone, the next check is a poll interval away
    fast = await box.aexecute("for i in 1 2 3 4; do head -c 15000000 /dev/zero > /w$i & done; wait")
    assert "disk cap" in fast.output, fast.output
    full = disk_usage(box.workspace)
    more = await box.aexecute("head -c 4000000 /dev/zero > /more")
    assert "File size limit exceeded" in more.output and disk_usage(box.workspace) <= full + 4096, more.output
    await box.aexecute("rm -f /w* /more")


async def test_a_full_box_stays_limited_for_every_handle_until_cleaned(provider: LocalProvider) -> None:
    """A box found over its cap is flagged (`<box>/full`): later commands, from any handle or process,
    run with `ulimit -f 0` without measuring first; once files are gone the next command lifts it."""
    box = (await provider.get_or_create("full", {}, 3600)).sandbox
    assert isinstance(box, LocalSandbox)
    flag = box.workspace.parent / "full"
    unlimited = f"{LIMITS.file_mb * 2048}\n"  # dash: 512-byte blocks
    assert (await box.aexecute("ulimit -f")).output == unlimited and not flag.exists()
    # written behind the sandbox's back (as a box from before the flag was): the first command of a
    # process that has not measured the box yet reports it (another provider: another process)
    (box.workspace / "host.bin").write_bytes(b"\0" * (LIMITS.disk_mb + 1) * 1024 * 1024)
    other = await LocalProvider(provider.root, limits=LIMITS, warm=WarmPool(0, 1)).get("full")
    assert other is not None
    assert "disk cap" in (await other.aexecute("true")).output and flag.exists()
    assert (await other.aexecute("ulimit -f")).output.startswith("0\n")
    assert (await box.aexecute("ulimit -f")).output.startswith("0\n")  # the flag holds for every handle
    await other.aexecute("rm -f /host.bin")
    assert (await box.aexecute("ulimit -f")).output == unlimited and not flag.exists()


def test_missing_bubblewrap_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from deep_agent_service.sandboxes import isolation
    from deep_agent_service.sandboxes.registry import build_provider

    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bwrap
    isolation.bwrap_path.cache_clear()
    isolation.check_isolation.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="apt-get install bubblewrap"):
            build_provider(Settings(sandbox=SandboxSettings(root=str(tmp_path / "boxes"))))
        unisolated = build_provider(Settings(sandbox=SandboxSettings(root=str(tmp_path / "boxes"), isolation="none")))
        assert isinstance(unisolated, LocalProvider) and unisolated.isolation is Isolation.NONE
    finally:
        isolation.bwrap_path.cache_clear()
        isolation.check_isolation.cache_clear()


async def test_unisolated_mode_runs_in_the_workspace_only_when_asked(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "boxes", limits=LIMITS, isolation=Isolation.NONE)
    sandbox = (await provider.get_or_create("dev", {}, 60)).sandbox
    await sandbox.awrite("/a.txt", "hi")
    result = await sandbox.aexecute("cat a.txt; env | grep -c KEY || true")
    assert result.output.startswith("hi")
    assert (tmp_path / "boxes" / "dev" / "root" / "a.txt").read_text() == "hi"


@pytest.mark.parametrize("warm_seconds", [0, 60], ids=["cold", "warm"])
async def test_a_failing_command_that_prints_like_bubblewrap_runs_once(warm_seconds: int) -> None:
    provider = LocalProvider(sandbox_root(), warm=WarmPool(warm_seconds, 4))
    box = (await provider.get_or_create(f"echo-{warm_seconds}", {}, 60)).sandbox
    result = await box.aexecute("echo ran >> /runs.log; echo 'bwrap: not really'; exit 1")
    assert result.exit_code == 1
    assert (await box.aexecute("cat /runs.log")).output.strip() == "ran", "the command ran twice"
    await provider.delete(box.id)


async def test_a_replaced_mount_point_is_restored_and_the_command_runs(provider: LocalProvider) -> None:
    box = (await provider.get_or_create("mounts", {}, 60)).sandbox
    assert isinstance(box, LocalSandbox)
    await box.aexecute("true")
    workspace = box._paths.workspace  # the box's `/` on the host: break its layout from out here
    (workspace / "tmp").rmdir()
    (workspace / "tmp").write_text("not a directory")
    result = await box.aexecute("echo ran >> /runs.log && ls -d /tmp")
    assert result.exit_code == 0 and "/tmp" in result.output, result.output
    assert (await box.aexecute("cat /runs.log")).output.strip() == "ran"
