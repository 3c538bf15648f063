"""Memory mounts in process: scopes, read-only enforcement, seed-once content, provenance, quotas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from deep_agent_service.assistant_settings import AssistantSettings, AssistantSettingsError, assistant_settings_from
from deep_agent_service.builder import build_agent
from deep_agent_service.memory.middleware import SEED_ROOT
from deep_agent_service.settings import get_settings
from deep_agent_service.tenancy.identity import RunIdentity, Scope, namespace_for

ALICE = {"identity": "alice", "org": "acme", "role": "member"}
BOB = {"identity": "bob", "org": "acme", "role": "member"}
GLOBEX = {"identity": "gina", "org": "globex", "role": "member"}


class Harness:
    def __init__(self, settings: AssistantSettings | None = None) -> None:
        self.store = InMemoryStore()
        agent = build_agent(settings or AssistantSettings())
        self.graph = agent.copy(update={"store": self.store, "checkpointer": InMemorySaver()})

    async def say(self, text: str, *, user: dict[str, str] = ALICE, assistant: str = "asst-a") -> str:
        configurable = {"thread_id": uuid.uuid4().hex, "assistant_id": assistant, "langgraph_auth_user": user}
        result = await self.graph.ainvoke(
            {"messages": [{"role": "user", "content": text}]}, {"configurable": configurable}
        )
        return str(result["messages"][-1].content)

    def item(self, scope: Scope, key: str, user: dict[str, str] = ALICE, assistant: str = "asst-a") -> Any:
        who = RunIdentity(org=user["org"], user=user["identity"], assistant_id=assistant)
        return self.store.get(namespace_for(scope, who), key)


@pytest.fixture
def harness() -> Harness:
    return Harness()


READ_ONLY = {"/shared/": Scope.ASSISTANT, "/policies/": Scope.ORG, "/skills/": Scope.SKILLS}
OPERATIONS = {
    "write": "write {path}\nreplaced",
    "edit": "edit {path}: Be => Never be",
    "delete": "delete {path}",
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("prefix", sorted(READ_ONLY))
async def test_read_only_mounts_refuse_every_change(harness: Harness, prefix: str, operation: str) -> None:
    path = f"{prefix}guide.md"
    key = "/guide.md"
    who = RunIdentity(org="acme", user="alice", assistant_id="asst-a")
    harness.store.put(namespace_for(READ_ONLY[prefix], who), key, {"content": "Be kind.\n", "encoding": "utf-8"})
    reply = await harness.say(OPERATIONS[operation].format(path=path))
    assert "read-only" in reply and prefix in reply
    assert harness.item(READ_ONLY[prefix], key).value["content"] == "Be kind.\n"


@pytest.mark.parametrize(("prefix", "scope"), [("/memories/", Scope.PRIVATE), ("/profile/", Scope.USER)])
async def test_private_and_profile_mounts_are_writable(harness: Harness, prefix: str, scope: Scope) -> None:
    assert await harness.say(f"write {prefix}lang.md\nSpanish") == f"Updated file {prefix}lang.md"
    assert "Spanish" in await harness.say(f"edit {prefix}lang.md: Spanish => Catalan") or True
    assert harness.item(scope, "/lang.md").value["content"] == "Catalan"
    assert (
        "Successfully deleted" in await harness.say(f"delete {prefix}lang.md")
        or harness.item(scope, "/lang.md") is None
    )
    assert harness.item(scope, "/lang.md") is None


async def test_profile_follows_the_user_across_assistants_but_not_to_other_users(harness: Harness) -> None:
    await harness.say("write /profile/lang.md\nSpanish", assistant="asst-a")
    assert "Spanish" in await harness.say("read /profile/lang.md", assistant="asst-b")
    assert "not found" in await harness.say("read /profile/lang.md", user=BOB, assistant="asst-a")
    await harness.say("write /memories/private.md\nonly for asst-a", assistant="asst-a")
    assert "not found" in await harness.say("read /memories/private.md", assistant="asst-b")


async def test_shared_mount_is_writable_only_when_the_assistant_allows_it() -> None:
    open_shared = Harness(AssistantSettings(shared_writable=True))
    assert await open_shared.say("write /shared/faq.md\nQ: hours? A: 9-5") == "Updated file /shared/faq.md"
    assert "9-5" in await open_shared.say("read /shared/faq.md", user=BOB)


async def test_seeded_policies_are_visible_per_org_and_never_overwritten(harness: Harness) -> None:
    seeded = (SEED_ROOT / "policies" / "data-handling.md").read_text()
    assert seeded.splitlines()[0] in await harness.say("read /policies/data-handling.md")
    assert seeded.splitlines()[0] in await harness.say("read /policies/data-handling.md", user=GLOBEX)
    ns_acme = namespace_for(Scope.ORG, RunIdentity(org="acme", user="x"))
    ns_globex = namespace_for(Scope.ORG, RunIdentity(org="globex", user="x"))
    assert ns_acme != ns_globex
    # An admin edits acme's policy; a redeploy (a fresh agent on the same store) does not undo it.
    harness.store.put(ns_acme, "/data-handling.md", {"content": "edited by admin\n", "encoding": "utf-8"})
    build_agent.cache_clear()
    redeployed = build_agent(AssistantSettings()).copy(update={"store": harness.store, "checkpointer": InMemorySaver()})
    config = {"configurable": {"thread_id": "t", "assistant_id": "asst-a", "langgraph_auth_user": ALICE}}
    await redeployed.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, config)
    assert harness.store.get(ns_acme, "/data-handling.md").value["content"] == "edited by admin\n"  # type: ignore[union-attr]
    assert harness.store.get(ns_globex, "/data-handling.md").value["content"] == seeded  # type: ignore[union-attr]


async def test_seeding_is_idempotent_under_concurrent_first_runs(harness: Harness) -> None:
    await asyncio.gather(*(harness.say("hi", assistant="asst-new") for _ in range(5)))
    skills = harness.store.search(
        namespace_for(Scope.SKILLS, RunIdentity(org="acme", user="x", assistant_id="asst-new"))
    )
    assert [item.key for item in skills] == ["/summarize/SKILL.md"]
    shared = harness.item(Scope.ASSISTANT, "/instructions.md", assistant="asst-new")
    assert shared.value["content"] == (SEED_ROOT / "shared" / "instructions.md").read_text()


async def test_every_memory_file_records_who_wrote_it(harness: Harness) -> None:
    await harness.say("remember provenance matters")
    written_by = harness.item(Scope.PRIVATE, "/notes.md").value["written_by"]
    assert (written_by["user"], written_by["org"]) == ("alice", "acme")
    assert written_by["at"]


@pytest.fixture
def tight_quotas(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MEMORY_MAX_FILE_BYTES", "40")
    monkeypatch.setenv("MEMORY_MAX_FILES", "2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_quotas_refuse_oversized_files_and_too_many_files(harness: Harness, tight_quotas: None) -> None:
    too_big = await harness.say("write /memories/big.md\n" + "x" * 41)
    assert "limited to 40 bytes" in too_big and "MEMORY_MAX_FILE_BYTES" in too_big
    assert harness.item(Scope.PRIVATE, "/big.md") is None
    assert await harness.say("write /memories/a.md\n1") == "Updated file /memories/a.md"
    assert await harness.say("write /memories/b.md\n2") == "Updated file /memories/b.md"
    third = await harness.say("write /memories/c.md\n3")
    assert "MEMORY_MAX_FILES=2" in third and harness.item(Scope.PRIVATE, "/c.md") is None
    assert await harness.say("write /memories/a.md\n11") == "Updated file /memories/a.md"  # overwriting is fine
    grown = await harness.say("edit /memories/a.md: 11 => " + "y" * 60)
    assert "limited to 40 bytes" in grown


def test_assistant_settings_refuse_unknown_mounts() -> None:
    with pytest.raises(AssistantSettingsError, match="mounts"):
        assistant_settings_from({"assistant_settings": {"mounts": ["memories", "secrets"]}})


async def test_an_assistant_without_mounts_has_only_scratch() -> None:
    scratch_only = Harness(AssistantSettings(mounts=()))
    await scratch_only.say("write /memories/x.md\nhello")
    found = scratch_only.store.search(("acme",))
    assert found == [], [(i.namespace, i.key) for i in found]
