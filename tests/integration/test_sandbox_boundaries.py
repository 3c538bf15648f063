"""Sandbox hardening through a real server: no nested user namespaces, a private /proc, a measured disk cap,
and networked boxes on a network of their own.

The network test builds its own "outside" host: a network namespace joined to this machine by a veth
pair (198.18.x.0/30), serving HTTP on an address routed through it (198.19.x.1: neither loopback,
link-local, RFC 1918, nor one of this machine's addresses or connected subnets), like any host on
the internet. A networked box must reach it, and must not reach this
machine's PostgreSQL, Redis, or the server's own port, on loopback or on the machine's addresses.
Every attempt is counted in `SANDBOX_ESCAPES` ("sandbox escapes: N attempts, 0 escapes").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.sandboxes.isolation import disk_usage
from deep_agent_service.sandboxes.local import LocalProvider
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.sandbox_dirs import sandbox_root
from tests.support.server import launch
from tests.support.services import require
from tests.support.tally import SANDBOX_ESCAPES

DISK_MB = 48
SERVER_ENV = {
    "DEPLOYMENT_NAME": "hard",
    "SANDBOX_TIMEOUT_SECONDS": "20",
    "SANDBOX_DISK_MB": str(DISK_MB),
    "SANDBOX_MAX_FILE_MB": "16",
}
CONNECT = (
    'python3 -c "import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); '
    "print('CONNECTED', sys.argv[1], sys.argv[2])\" {host} {port} 2>&1 | tail -1"
)


def connected(reply: str, host: str, port: int) -> bool:
    """The probe's own success line, not the word inside an echoed command (an error quoting it)."""
    return f"CONNECTED {host} {port}" in reply


def escape(what: str, escaped: bool) -> None:
    SANDBOX_ESCAPES.attempts += 1
    if escaped:
        SANDBOX_ESCAPES.escapes.append(what)


@dataclass
class Outside:
    """A test-made host in a network namespace of its own, serving HTTP."""

    namespace: str
    address: str
    port: int
    token: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def outside_host(workdir: Path) -> Iterator[Outside]:
    suffix = secrets.token_hex(3)
    namespace, host_side, ns_side = f"das-out-{suffix}", f"dasv{suffix}", f"dasp{suffix}"
    third = secrets.randbelow(250) + 1
    host_addr, ns_addr, served = f"198.18.{third}.1", f"198.18.{third}.2", f"198.19.{third}.1"
    token = secrets.token_hex(8)
    (workdir / "index.html").write_text(token)
    server: subprocess.Popen[bytes] | None = None
    try:
        _ip("netns", "add", namespace)
        _ip("link", "add", host_side, "type", "veth", "peer", "name", ns_side)
        _ip("link", "set", ns_side, "netns", namespace)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_side)
        _ip("link", "set", host_side, "up")
        _ip("-n", namespace, "addr", "add", f"{ns_addr}/30", "dev", ns_side)
        _ip("-n", namespace, "link", "set", ns_side, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "addr", "add", f"{served}/32", "dev", "lo")
        _ip("route", "add", f"{served}/32", "via", ns_addr)
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "http.server", "8080", "--bind", served],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{served}:8080/", timeout=1) as page:
                if token.encode() in page.read():
                    break
            time.sleep(0.1)
        yield Outside(namespace=namespace, address=served, port=8080, token=token)
    finally:
        if server is not None:
            server.terminate()
            server.wait(5)
        subprocess.run(["ip", "route", "del", f"{served}/32"], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", host_side], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    running = launch(Path(tmp_path_factory.mktemp("hardening")), {**SERVER_ENV, "SANDBOX_ROOT": str(sandbox_root())})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def sdk(server: DevServer) -> AsyncIterator[LangGraphClient]:
    yield connect(url=server.url)


async def test_nested_user_namespaces_are_refused_in_the_box(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    for command in (
        "unshare -r id -u",
        "unshare -U true",
        "python3 -c 'import os; os.unshare(os.CLONE_NEWUSER); print(0)'",
        "bwrap --ro-bind / / --unshare-user id -u",
    ):
        reply = await ask(sdk, f"run {command}; echo rc=$?", thread_id=thread)
        escaped = "rc=0" in reply
        escape(f"nested user namespace: {command}", escaped)
        assert not escaped, f"{command}: {reply}"


async def test_proc_shows_only_the_boxs_own_processes(sdk: LangGraphClient) -> None:
    marker = f"{secrets.randbelow(10_000)}.{secrets.randbelow(10_000)}"
    busy, looker = (await sdk.threads.create())["thread_id"], (await sdk.threads.create())["thread_id"]
    sleeper = asyncio.create_task(ask(sdk, f"run sleep {marker}", thread_id=busy))
    await asyncio.sleep(2)  # the other box's command is running now
    seen = await ask(sdk, "run for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done", thread_id=looker)
    sleeper.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await sleeper
    for needle in (marker, "langgraph", "uvicorn", "postgres", "redis"):
        escape(f"/proc shows {needle}", needle in seen)
        assert needle not in seen, seen[:800]


async def test_a_fast_writer_is_stopped_near_the_disk_cap(sdk: LangGraphClient, server: DevServer) -> None:
    """Eight parallel writers of 16 MB files against a 48 MB cap: the command is stopped with a notice.

    The overshoot (what the writers got onto disk before the poll stopped them) is printed, not
    asserted: it depends on the disk's speed. README "Sandboxes" gives the measured worst case.
    What is asserted: the box, once over its cap, does not grow with the next command."""
    thread = (await sdk.threads.create())["thread_id"]
    writers = "for i in 1 2 3 4 5 6 7 8; do head -c 16000000 /dev/zero > /w$i & done; wait; echo finished"
    reply = await ask(sdk, f"run {writers}", thread_id=thread)
    [box] = await LocalProvider(Path(server.env["SANDBOX_ROOT"])).list({"owner": thread})
    megabytes = disk_usage(Path(server.env["SANDBOX_ROOT"]) / box.name) // (1024 * 1024)
    print(f"disk cap {DISK_MB} MB: 8 parallel writers left {megabytes} MB (overshoot {megabytes - DISK_MB} MB)")
    assert "disk cap" in reply, reply
    escape("disk cap: no notice after the workspace went past its cap", "disk cap" not in reply)
    # over the cap, later commands cannot add to it (ulimit -f 0), so the overshoot does not add up
    next_reply = await ask(sdk, "run head -c 16000000 /dev/zero > /more; echo tried", thread_id=thread)
    after = disk_usage(Path(server.env["SANDBOX_ROOT"]) / box.name) // (1024 * 1024)
    escape("disk cap: a full box grew further", after > megabytes)
    assert "disk cap" in next_reply and "File size limit exceeded" in next_reply, next_reply
    assert after <= megabytes, f"{megabytes} MB before, {after} MB after"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "the network test needs root and iproute2")
    with outside_host(Path(tmp_path_factory.mktemp("outside"))) as host:
        yield host


def _host_addresses() -> list[str]:
    """This machine's IPv4 addresses but loopback, and its global IPv6 ones (the box has no IPv6 route)."""
    addresses = []
    for family in ("-4", "-6"):
        command = ["ip", "-j", family, "addr", "show", *(["scope", "global"] if family == "-6" else [])]
        shown = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10)
        links = json.loads(shown.stdout or "[]")
        found = [info.get("local", "") for link in links for info in link.get("addr_info", [])]
        addresses += [address for address in found if address and not address.startswith("127.")]
    return addresses


async def test_a_networked_box_reaches_the_outside_and_nothing_of_the_host(
    sdk: LangGraphClient, server: DevServer, outside: Outside
) -> None:
    assistant = await sdk.assistants.create(
        graph_id="agent",
        config={"configurable": {"assistant_settings": {"sandbox_network": True}}},
        name=f"net-{uuid.uuid4().hex[:6]}",
    )
    aid = assistant["assistant_id"]
    thread = (await sdk.threads.create())["thread_id"]
    url = f"http://{outside.address}:{outside.port}/"
    fetched = await ask(
        sdk,
        f"run python3 -c \"import urllib.request; print(urllib.request.urlopen('{url}', timeout=5).read().decode())\"",
        assistant_id=aid,
        thread_id=thread,
    )
    assert outside.token in fetched, fetched
    # the probe itself works: it reports a connection it can make
    reached = await ask(
        sdk, "run " + CONNECT.format(host=outside.address, port=outside.port), assistant_id=aid, thread_id=thread
    )
    assert connected(reached, outside.address, outside.port), reached
    server_port = int(server.url.rsplit(":", 1)[1])
    targets = [("127.0.0.1", port) for port in (5432, 6379, server_port)]
    targets += [(address, port) for address in _host_addresses() for port in (5432, 6379, server_port, 2024)]
    targets += [("169.254.169.254", 80), ("10.0.2.2", 6379), ("10.0.2.2", server_port)]
    for host, port in targets:
        reply = await ask(sdk, "run " + CONNECT.format(host=host, port=port), assistant_id=aid, thread_id=thread)
        escaped = connected(reply, host, port)
        escape(f"networked box reached {host}:{port}", escaped)
        assert not escaped, f"{host}:{port}: {reply}"


async def test_boxes_have_no_network_by_default(sdk: LangGraphClient, outside: Outside) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    for host, port in ((outside.address, outside.port), ("127.0.0.1", 6379)):
        reply = await ask(sdk, "run " + CONNECT.format(host=host, port=port), thread_id=thread)
        escaped = connected(reply, host, port)
        escape(f"default box reached {host}:{port}", escaped)
        assert not escaped, reply
