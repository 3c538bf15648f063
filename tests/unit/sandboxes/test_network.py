"""Networked local boxes: the egress block list, the allowlist, the refusal without slirp4netns,
and one real networked command against a port this test listens on (on this machine's address)."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes import local
from deep_agent_service.sandboxes import network as box_network
from deep_agent_service.sandboxes.isolation import IsolationUnavailableError, Limits
from deep_agent_service.sandboxes.local import LocalProvider
from deep_agent_service.sandboxes.network import SLIRP_CIDR, EgressPolicy, host_networks, slirp_path
from deep_agent_service.sandboxes.registry import build_provider
from deep_agent_service.settings import SandboxSettings, Settings
from tests.support.sandbox_dirs import sandbox_root

HOST = (ipaddress.IPv4Network("192.0.2.7/32"), ipaddress.IPv4Network("192.0.2.0/24"))


def blocked(policy: EgressPolicy, address: str) -> bool:
    """As the box's kernel decides: the most specific route wins (slirp's subnet and the default are open)."""
    routes = [(network, True) for network in policy.prohibited]
    routes += [(SLIRP_CIDR, False), (ipaddress.IPv4Network("0.0.0.0/0"), False)]
    destination = ipaddress.IPv4Address(address)
    matching = [(network.prefixlen, prohibit) for network, prohibit in routes if destination in network]
    return max(matching)[1]


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"],
)
def test_loopback_private_and_link_local_ranges_are_blocked(address: str) -> None:
    assert blocked(EgressPolicy.build(host=HOST), address)


def test_this_machines_addresses_and_subnets_are_blocked_and_the_internet_is_not() -> None:
    policy = EgressPolicy.build(host=HOST)
    assert blocked(policy, "192.0.2.7") and blocked(policy, "192.0.2.200")
    assert not blocked(policy, "198.51.100.1") and not blocked(policy, "8.8.8.8")


def test_slirps_own_gateway_and_dns_stay_routable() -> None:
    policy = EgressPolicy.build(host=HOST)
    assert not blocked(policy, "10.0.2.2") and not blocked(policy, "10.0.2.3")
    assert blocked(policy, "10.0.3.1")


def test_the_allowlist_opens_exactly_what_it_names() -> None:
    policy = EgressPolicy.build(["10.20.0.0/16", "192.0.2.7"], host=HOST)
    assert not blocked(policy, "10.20.5.5") and not blocked(policy, "192.0.2.7")
    assert blocked(policy, "10.21.0.1") and blocked(policy, "192.0.2.8")


def test_the_real_machine_policy_blocks_its_own_addresses() -> None:
    policy = EgressPolicy.build()
    for network in host_networks():
        assert blocked(policy, str(network.network_address)), network


def test_a_bad_allowlist_entry_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IPv4 address or CIDR"):
        SandboxSettings(egress_allow="10.20.0.0/16,10.0.0.300")  # type: ignore[arg-type]
    assert SandboxSettings(egress_allow="10.20.0.0/16, 192.0.2.7").egress_allow == ("10.20.0.0/16", "192.0.2.7")


def test_a_networked_box_is_refused_without_slirp4netns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the host's network instead: the provider refuses, naming the package."""
    monkeypatch.setattr(local, "slirp_path", lambda: None)
    with pytest.raises(IsolationUnavailableError, match="slirp4netns"):
        LocalProvider(sandbox_root(), network=True)
    LocalProvider(sandbox_root(), network=False)  # boxes without network are unaffected
    settings = Settings(sandbox=SandboxSettings(root=str(sandbox_root())))
    with pytest.raises(ConfigurationError, match="sandbox_network"):
        build_provider(settings, network=True)


def _host_address() -> str | None:
    for network in host_networks():
        if network.prefixlen == 32 and not network.network_address.is_loopback:
            return str(network.network_address)
    return None


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    address = _host_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = socket.create_server((address, 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connection.sendall(b"HOST-SERVICE\n")
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield address, server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.mark.skipif(slirp_path() is None, reason="slirp4netns is not installed")
async def test_a_networked_box_cannot_reach_a_service_on_this_machines_address(listener: tuple[str, int]) -> None:
    address, port = listener
    with socket.create_connection(listener, timeout=2) as out_here:  # the service answers out here ...
        assert out_here.recv(64) == b"HOST-SERVICE\n"
    provider = LocalProvider(sandbox_root(), limits=Limits(timeout_seconds=30), network=True)
    box = (await provider.get_or_create("net", {}, 60)).sandbox
    probe = f"import socket; print(socket.create_connection(('{address}', {port}), timeout=3).recv(64))"
    result = await box.aexecute(f'python3 -c "{probe}"')
    # ... but not in there
    assert "HOST-SERVICE" not in result.output and "Permission denied" in result.output, result.output
    assert "tap0" in (await box.aexecute("cat /proc/net/route")).output  # its own NAT interface, not the host's


@pytest.mark.skipif(slirp_path() is None, reason="slirp4netns is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to the sandbox user, who needs the tun device")
async def test_a_root_only_tun_device_fails_networked_commands_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = tmp_path / "tun"  # stands in for /dev/net/tun as some container images ship it: 0600
    device.write_bytes(b"")
    device.chmod(0o600)
    monkeypatch.setattr(box_network, "TUN_DEVICE", str(device))
    provider = LocalProvider(sandbox_root(), limits=Limits(timeout_seconds=30), network=True)
    box = (await provider.get_or_create("tun", {}, 60)).sandbox
    with pytest.raises(box_network.NetworkSetupError, match=r"chmod 0666 /dev/net/tun"):  # as for a missing slirp4netns
        await box.aexecute("echo ran")
