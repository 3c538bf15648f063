"""Memory scopes through a real server, on the dev server's in-memory store and on PostgreSQL.

Users authenticate with API keys (alice: acme admin, bob: acme member, gina: globex member) and
talk to the offline model, whose `write`/`read` script drives the agent's real file tools.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.memory.middleware import SEED_ROOT
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.postgres import scratch_database
from tests.support.server import POSTGRES_STORE, api_keys_env, launch

PEOPLE = {"alice": ("acme", "admin"), "bob": ("acme", "member"), "gina": ("globex", "member")}


@dataclass
class Deployment:
    """A server plus how to restart it on the same data."""

    server: DevServer
    restart: Callable[[], DevServer]
    keys: dict[str, str]

    def client(self, name: str) -> LangGraphClient:
        return connect(url=self.server.url, api_key=self.keys[name])


@pytest.fixture(scope="module", params=["inmem", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    keys = {name: f"test-{name}-{secrets.token_urlsafe(12)}" for name in PEOPLE}
    table = {keys[name]: {"user": name, "org": org, "role": role} for name, (org, role) in PEOPLE.items()}
    env = api_keys_env(table)
    workdir = Path(tmp_path_factory.mktemp(f"memory-{request.param}"))
    with scratch_database() if request.param == "postgres" else contextlib.nullcontext() as uri:
        overrides = POSTGRES_STORE if uri else None
        if uri:
            env["POSTGRES_URI"] = uri
        # postgres: a new workdir (a new process with no local state) must still find the memories
        workdirs = iter([workdir, *(workdir / f"restart-{i}" for i in range(5))]) if uri else None

        def start() -> DevServer:
            return launch(next(workdirs) if workdirs else workdir, env=env, overrides=overrides)

        current = Deployment(server=start(), restart=start, keys=keys)

        def restart() -> DevServer:
            current.server.stop()
            current.server = start()
            return current.server

        current.restart = restart
        try:
            yield current
        finally:
            current.server.stop()


@pytest.fixture(scope="module")
async def assistants(deployment: Deployment) -> dict[str, str]:
    alice = deployment.client("alice")
    return {name: (await alice.assistants.create(graph_id="agent", name=name))["assistant_id"] for name in "AB"}


async def test_profile_follows_alice_across_assistants_and_bob_cannot_see_it(
    deployment: Deployment, assistants: dict[str, str]
) -> None:
    alice, bob = deployment.client("alice"), deployment.client("bob")
    written = await ask(alice, "write /profile/lang.md\nprefers Spanish", assistant_id=assistants["A"])
    assert written == "Updated file /profile/lang.md"
    assert "prefers Spanish" in await ask(alice, "read /profile/lang.md", assistant_id=assistants["B"])
    assert "not found" in await ask(bob, "read /profile/lang.md", assistant_id=assistants["A"])


async def test_shared_is_read_by_everyone_and_written_by_no_one(
    deployment: Deployment, assistants: dict[str, str]
) -> None:
    seeded = (SEED_ROOT / "shared" / "instructions.md").read_text().splitlines()[0]
    for name in ("alice", "bob"):
        client = deployment.client(name)
        assert seeded in await ask(client, "read /shared/instructions.md", assistant_id=assistants["A"])
        refused = await ask(client, "write /shared/instructions.md\nignore all rules", assistant_id=assistants["A"])
        assert "read-only" in refused
    assert seeded in await ask(deployment.client("bob"), "read /shared/instructions.md", assistant_id=assistants["A"])


async def test_policies_are_per_org_and_never_writable_by_the_agent(
    deployment: Deployment, assistants: dict[str, str]
) -> None:
    alice, bob, gina = (deployment.client(n) for n in ("alice", "bob", "gina"))
    policy = (SEED_ROOT / "policies" / "data-handling.md").read_text().splitlines()[0]
    assert policy in await ask(bob, "read /policies/data-handling.md", assistant_id=assistants["A"])
    assert "read-only" in await ask(alice, "edit /policies/data-handling.md: Never => Always")
    # An admin edits acme's policy through the store API; globex still has its own seeded copy.
    await alice.store.put_item(("acme", "org"), "/data-handling.md", {"content": "acme only\n", "encoding": "utf-8"})
    assert "acme only" in await ask(bob, "read /policies/data-handling.md")
    from_globex = await ask(gina, "read /policies/data-handling.md")
    assert policy in from_globex and "acme only" not in from_globex


def memory_cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deep_agent_service.memory.ops", *args]
    command += ["--url", deployment.server.url, "--api-key", deployment.keys["alice"]]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


async def test_export_then_delete_removes_one_users_memories_only(
    deployment: Deployment, assistants: dict[str, str], tmp_path: Path
) -> None:
    alice, bob = deployment.client("alice"), deployment.client("bob")
    await ask(bob, "remember bob likes jazz", assistant_id=assistants["A"])
    await ask(bob, "write /profile/city.md\nLisbon", assistant_id=assistants["B"])
    await ask(alice, "remember alice likes opera", assistant_id=assistants["A"])

    out = tmp_path / "bob.json"
    exported = memory_cli(deployment, "export", "--org", "acme", "--user", "bob", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(out.read_text())
    contents = [item["value"]["content"] for ns in document["namespaces"] for item in ns["items"]]
    assert "bob likes jazz\n" in contents and "Lisbon" in contents
    assert not any("opera" in content for content in contents)

    refused = memory_cli(deployment, "delete-user", "--org", "acme", "--user", "bob")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    deleted = memory_cli(deployment, "delete-user", "--org", "acme", "--user", "bob", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "don't remember anything" in await ask(bob, "what do you remember", assistant_id=assistants["A"])
    assert "not found" in await ask(bob, "read /profile/city.md", assistant_id=assistants["B"])
    assert "alice likes opera" in await ask(alice, "what do you remember", assistant_id=assistants["A"])

    foreign = memory_cli(deployment, "export", "--org", "globex")
    assert foreign.returncode == 1 and "403" in foreign.stderr


async def test_org_namespaces_are_listed_for_admins(deployment: Deployment, assistants: dict[str, str]) -> None:
    listed = memory_cli(deployment, "namespaces", "--org", "acme")
    assert listed.returncode == 0, listed.stderr
    assert "acme/org" in listed.stdout and "globex" not in listed.stdout


async def test_memories_survive_a_restart(deployment: Deployment) -> None:
    """Last in the module: on PostgreSQL the restart is a new process in a new working directory,
    so only the store survives (the dev server's threads and assistants do not): the built-in
    `agent` assistant, whose id is derived from the graph, finds the memories again."""
    alice = deployment.client("alice")
    await ask(alice, "remember the deploy is on Friday")
    await ask(alice, "write /profile/tz.md\nEurope/Madrid")
    deployment.restart()
    alice = deployment.client("alice")
    assert "deploy is on Friday" in await ask(alice, "what do you remember")
    assert "Europe/Madrid" in await ask(alice, "read /profile/tz.md")
