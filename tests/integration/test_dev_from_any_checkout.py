"""The guide's own command, plain `langgraph dev` (the CLI, no launcher), from a checkout in a directory
the sandbox user cannot traverse (a root-private temp dir, `/root`): it starts, its sandboxes work,
and the log says where they live. An explicit SANDBOX_ROOT that does not work is still an error."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.client import connect
from deep_agent_service.server.devserver import (
    DevServer,
    ServerStartError,
    free_port,
    langgraph_command,
    spawn,
    wait_until_ready,
)
from tests.support.chat import ask
from tests.support.server import BASE_ENV

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root runs sandboxes as another user (nobody), who needs to traverse the path"
)


@pytest.fixture
def private_checkout() -> Iterator[Path]:
    """A copy of the checkout's server files in a 0700 directory (as `git clone` under /root leaves it)."""
    private = Path(tempfile.mkdtemp(prefix="private-checkout-"))
    assert not private.stat().st_mode & stat.S_IXOTH
    checkout = private / "deep-agent-service"
    checkout.mkdir()
    shutil.copy(PROJECT_ROOT / "langgraph.json", checkout)
    shutil.copytree(PROJECT_ROOT / "src", checkout / "src", ignore=shutil.ignore_patterns("__pycache__"))
    try:
        yield checkout
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _plain_langgraph_dev(checkout: Path, **env: str) -> DevServer:
    port = free_port()
    # the test process's own SANDBOX_ROOT (tests/conftest.py) must not leak into "unset"
    inherited = {k: v for k, v in os.environ.items() if k != "SANDBOX_ROOT"}
    server = spawn(
        langgraph_command("127.0.0.1", port),  # no --config: ./langgraph.json of the checkout, as the guide runs it
        url=f"http://127.0.0.1:{port}",
        env={**inherited, **BASE_ENV, **env},
        cwd=checkout,
        log_path=checkout / "server.log",
    )
    wait_until_ready(server, timeout=120)
    return server


async def test_plain_langgraph_dev_from_a_private_checkout_runs_sandboxes(private_checkout: Path) -> None:
    server = _plain_langgraph_dev(private_checkout)
    try:
        client = connect(url=server.url)
        assert "hello from the sandbox" in await ask(client, "run echo hello from the sandbox")
        log = server.log_tail(400)
    finally:
        server.stop()
    assert "local sandboxes live in" in log, log
    assert str(private_checkout) in log  # it names the checkout it could not use


def test_an_explicit_unreachable_sandbox_root_is_still_an_error(private_checkout: Path) -> None:
    with pytest.raises(ServerStartError, match=r"SANDBOX_ROOT=.* is not reachable by the sandbox user"):
        _plain_langgraph_dev(private_checkout, SANDBOX_ROOT=str(private_checkout / "boxes"))
