"""A networked box's own network: a private network namespace, NAT by slirp4netns, and no way to the host.

A command with `sandbox_network` runs in a network namespace of its own (bubblewrap unshares it
as for every command). Before the command starts (bubblewrap waits on a pipe), `slirp4netns`
attaches a tap device with user-mode NAT (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3), with
`--disable-host-loopback` so the gateway is not the host's 127.0.0.1, its own seccomp filter
(`--enable-seccomp`) and `--exit-fd` (it exits with the server, even a killed one). Then
`prohibit` routes are added in the box's namespace for every range the box must not reach:

- loopback 127.0.0.0/8 (inside the box that is the box's own loopback; the route is for clarity),
  "this network" 0.0.0.0/8, link-local 169.254.0.0/16 (cloud metadata), RFC 1918 private ranges,
  shared address space 100.64.0.0/10, multicast and reserved ranges;
- every address of this machine and every subnet it is directly connected to (read once, when
  the first networked command of the process runs);
- minus what `SANDBOX_EGRESS_ALLOW` (comma-separated CIDRs) names.

A prohibited destination fails at once with "Permission denied" (EACCES). IPv6 is not enabled in
the box (slirp4netns without `--enable-ipv6`), so the box has no IPv6 route at all. DNS queries to
10.0.2.3 are forwarded by slirp4netns to this machine's resolver (port 53 only). slirp4netns and
the route setup run as the same unprivileged user as bubblewrap, so this works for a server
running as root and as an ordinary user alike. The routes live in the box's namespace, which the
command cannot change: it has no capabilities, and may not create a user namespace of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from deep_agent_service.sandboxes.errors import SandboxError

# Ranges a box never reaches unless allowed (IPv4; the box has no IPv6).
BLOCKED_RANGES: tuple[str, ...] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
SLIRP_CIDR = ipaddress.IPv4Network("10.0.2.0/24")  # slirp4netns' default; its own routes stay reachable
BOX_RESOLV_CONF = b"nameserver 10.0.2.3\n"
SETUP_SECONDS = 10.0
# NAT with the host's loopback out of reach; the namespace is given as a path (/dev/fd/N)
SLIRP_OPTIONS = ("--configure", "--mtu=65520", "--disable-host-loopback", "--enable-seccomp", "--netns-type=path")
NSENTER_IP = ("--preserve-credentials", "ip", "-batch", "-")
NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
ROUTE_RETRY_SECONDS = 0.02  # first pause between route attempts; doubles, at most ROUTE_RETRY_MAX
ROUTE_RETRY_MAX = 0.25
ROUTE_SETUP_SECONDS = 10.0  # how long the uid map may take to appear (a loaded machine), then fail closed
INSTALL_HINT = (
    "networked sandboxes (sandbox_network: true) need slirp4netns: install it (Debian/Ubuntu: "
    "`sudo apt-get install slirp4netns`; `make setup` does this when run as root), or turn sandbox_network off"
)


TUN_DEVICE = "/dev/net/tun"
TUN_HINT = (
    f"networked sandboxes need {TUN_DEVICE} readable and writable by the unprivileged user slirp4netns "
    f"runs as (mode 0666, the distributions' default); run `chmod 0666 {TUN_DEVICE}` as root "
    "(`make setup` does this when run as root), or turn sandbox_network off"
)


def _tun_open_to_all() -> bool:
    """slirp4netns runs as the unprivileged sandbox user; a root-only tun device (some container
    images ship it 0600) makes every networked command fail, so say so before trying."""
    try:
        return os.stat(TUN_DEVICE).st_mode & 0o006 == 0o006
    except OSError:
        return False


class NetworkSetupError(SandboxError):
    """The box's network could not be set up; the command did not run."""


@functools.cache
def slirp_path() -> str | None:
    return shutil.which("slirp4netns")


def host_networks() -> tuple[ipaddress.IPv4Network, ...]:
    """This machine's IPv4 addresses (as /32) and the subnets it is directly connected to."""
    shown = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=10, check=False)
    networks: list[ipaddress.IPv4Network] = []
    with contextlib.suppress(ValueError):
        for link in json.loads(shown.stdout or "[]"):
            for info in link.get("addr_info", []):
                interface = ipaddress.IPv4Interface(f"{info['local']}/{info.get('prefixlen', 32)}")
                networks += [ipaddress.IPv4Network(f"{interface.ip}/32"), interface.network]
    return tuple(networks)


def _subtract(
    blocked: Iterable[ipaddress.IPv4Network], allowed: Sequence[ipaddress.IPv4Network]
) -> list[ipaddress.IPv4Network]:
    remaining = list(blocked)
    for allow in allowed:
        after: list[ipaddress.IPv4Network] = []
        for network in remaining:
            if allow.supernet_of(network):
                continue
            if network.supernet_of(allow):
                after.extend(network.address_exclude(allow))
            else:
                after.append(network)
        remaining = after
    return remaining


def parse_allow(entries: Iterable[str]) -> tuple[ipaddress.IPv4Network, ...]:
    """SANDBOX_EGRESS_ALLOW entries as networks (the settings have checked them: ValueError otherwise)."""
    return tuple(ipaddress.IPv4Network(entry.strip(), strict=False) for entry in entries)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """The `prohibit` routes of a networked box."""

    prohibited: tuple[ipaddress.IPv4Network, ...]

    @classmethod
    def build(cls, allow: Sequence[str] = (), host: Sequence[ipaddress.IPv4Network] | None = None) -> EgressPolicy:
        blocked = {ipaddress.IPv4Network(r) for r in BLOCKED_RANGES}
        blocked |= set(host_networks() if host is None else host)
        # never prohibit slirp's own subnet (gateway, DNS): the box could not route at all
        blocked = {network for network in blocked if not network.subnet_of(SLIRP_CIDR)}
        return cls(tuple(sorted(set(_subtract(blocked, parse_allow(allow))))))

    def route_batch(self) -> bytes:
        """`ip -batch` input setting the routes (`replace`: a retry after a partial attempt is harmless)."""
        return "".join(f"route replace prohibit {network}\n" for network in self.prohibited).encode()


def _child_pid(info: int, deadline: float) -> int:
    """bubblewrap's `--info-fd` JSON: the pid of the sandboxed process."""
    data = b""
    while True:
        ready, _, _ = select.select([info], [], [], deadline)
        if not ready:
            raise NetworkSetupError("bubblewrap did not report the sandbox's pid in time")
        chunk = os.read(info, 4096)
        if not chunk:
            raise NetworkSetupError(f"bubblewrap exited before the network was set up: {data[-200:]!r}")
        data += chunk
        with contextlib.suppress(ValueError):
            return int(json.loads(data)["child-pid"])


class BoxNetwork:
    """slirp4netns and the egress routes of one command's box (see the module doc)."""

    def __init__(self, policy: EgressPolicy, run_as: Sequence[str]) -> None:
        binary = slirp_path()
        if binary is None:
            raise NetworkSetupError(INSTALL_HINT)
        self.binary = binary
        self.policy = policy
        self.run_as = tuple(run_as)  # the prefix that drops root, as for bubblewrap
        if self.run_as and not _tun_open_to_all():
            raise NetworkSetupError(TUN_HINT)
        self._slirp: subprocess.Popen[bytes] | None = None
        self._exit_w = -1  # slirp4netns exits when this closes: with stop(), or with the server itself

    def attach(self, info_fd: int) -> None:
        """Given bubblewrap's info pipe: start NAT, add the routes (blocking; the box waits meanwhile)."""
        try:
            self._attach(info_fd)
        except (OSError, subprocess.SubprocessError) as error:
            raise NetworkSetupError(f"cannot set up the sandbox's network: {error}") from error

    def _attach(self, info_fd: int) -> None:
        pid = _child_pid(info_fd, SETUP_SECONDS)
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            owner = fcntl.ioctl(netns, NS_GET_USERNS)  # bubblewrap's outer user namespace
        except OSError:
            os.close(netns)
            raise
        try:
            self._start_slirp(netns, owner)
            self._add_routes(netns, owner)
        finally:
            os.close(owner)
            os.close(netns)

    def _add_routes(self, netns: int, owner: int) -> None:
        """The `prohibit` routes, added from inside the box's user and network namespaces.

        Retried for up to ROUTE_SETUP_SECONDS: right after bubblewrap reports the pid it may still be
        writing the user namespace's uid map, and until then `ip` runs there without capabilities
        (EPERM). If it never works the command does not run (fail closed)."""
        deadline = time.monotonic() + ROUTE_SETUP_SECONDS
        pause = ROUTE_RETRY_SECONDS
        while True:
            routes = subprocess.run(
                [*self.run_as, "nsenter", f"--user=/dev/fd/{owner}", f"--net=/dev/fd/{netns}", *NSENTER_IP],
                input=self.policy.route_batch(),
                capture_output=True,
                timeout=SETUP_SECONDS,
                pass_fds=(owner, netns),
                check=False,
            )
            if routes.returncode == 0:
                return
            if time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, ROUTE_RETRY_MAX)
        raise NetworkSetupError(f"cannot confine the sandbox's network: {routes.stderr.decode()[-300:]}")

    def _start_slirp(self, netns: int, owner: int) -> None:
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        try:
            self._slirp = subprocess.Popen(
                [
                    *self.run_as,
                    self.binary,
                    *SLIRP_OPTIONS,
                    f"--ready-fd={ready_w}",
                    f"--exit-fd={exit_r}",
                    f"--userns-path=/dev/fd/{owner}",
                    f"/dev/fd/{netns}",
                    "tap0",
                ],
                pass_fds=(ready_w, exit_r, owner, netns),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            os.close(ready_w)
            ready_w = -1
            os.close(exit_r)
            exit_r = -1
            ready, _, _ = select.select([ready_r], [], [], SETUP_SECONDS)
            if not ready or os.read(ready_r, 1) != b"1":
                self.stop()
                raise NetworkSetupError("slirp4netns could not attach to the sandbox's network namespace")
        finally:
            os.close(ready_r)
            for fd in (ready_w, exit_r):
                if fd >= 0:
                    os.close(fd)

    def stop(self) -> None:
        exit_w, self._exit_w = self._exit_w, -1
        if exit_w >= 0:
            os.close(exit_w)
        slirp, self._slirp = self._slirp, None
        if slirp is None:
            return
        slirp.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            slirp.wait(2)
