"""Lazy binding, scopes, failure classes and file sync, driven through the real agent in process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from deepagents.backends.protocol import ExecuteResponse, SandboxBackendProtocol
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.sandboxes import SandboxScope
from deep_agent_service.sandboxes.binding import LazySandboxBackend, SandboxNoticeMiddleware
from deep_agent_service.sandboxes.errors import SandboxUnreachableError
from deep_agent_service.sandboxes.local import LocalProvider
from deep_agent_service.sandboxes.provider import Acquired, SandboxInfo
from deep_agent_service.sandboxes.registry import get_provider
from deep_agent_service.sandboxes.sync import SandboxFileSync
from tests.support.sandbox_dirs import sandbox_root

ALICE = {"identity": "alice", "org": "acme", "role": "member"}


def _graph(store: InMemoryStore, **settings: Any) -> Any:
    return build_agent(AssistantSettings(**settings)).copy(update={"store": store, "checkpointer": InMemorySaver()})


async def _say(graph: Any, text: str, *, thread: str, assistant: str = "asst") -> str:
    configurable = {"thread_id": thread, "assistant_id": assistant, "langgraph_auth_user": ALICE}
    result = await graph.ainvoke({"messages": [{"role": "user", "content": text}]}, {"configurable": configurable})
    return str(result["messages"][-1].content)


async def _boxes_of(owner: str) -> list[SandboxInfo]:
    return await get_provider(network=False).list({"owner": owner})


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


async def test_runs_that_never_touch_files_create_no_sandbox(store: InMemoryStore) -> None:
    graph, thread = _graph(store), uuid.uuid4().hex
    await _say(graph, "hello", thread=thread)
    await _say(graph, "plan: a; b", thread=thread)
    await _say(graph, "remember the store is not the sandbox", thread=thread)
    assert await _boxes_of(thread) == []
    assert "hi" in await _say(graph, "run echo hi", thread=thread)
    assert len(await _boxes_of(thread)) == 1


async def test_thread_scope_keeps_files_per_thread(store: InMemoryStore) -> None:
    graph, one, two = _graph(store), uuid.uuid4().hex, uuid.uuid4().hex
    await _say(graph, "run echo first > f.txt", thread=one)
    assert "first" in await _say(graph, "run cat f.txt", thread=one)
    assert "No such file" in await _say(graph, "run cat f.txt", thread=two)
    [box_one], [box_two] = await _boxes_of(one), await _boxes_of(two)
    assert box_one.sandbox_id != box_two.sandbox_id


async def test_assistant_scope_shares_one_sandbox_across_threads(store: InMemoryStore) -> None:
    graph, assistant = _graph(store, sandbox_scope="assistant"), uuid.uuid4().hex
    await _say(graph, "run echo shared > s.txt", thread=uuid.uuid4().hex, assistant=assistant)
    assert "shared" in await _say(graph, "run cat s.txt", thread=uuid.uuid4().hex, assistant=assistant)
    assert len(await _boxes_of(assistant)) == 1


async def test_two_concurrent_first_runs_on_a_new_thread_make_one_sandbox(store: InMemoryStore) -> None:
    graph, thread = _graph(store), uuid.uuid4().hex
    replies = await asyncio.gather(
        _say(graph, "run echo a >> both.txt", thread=thread), _say(graph, "run echo b >> both.txt", thread=thread)
    )
    assert all("exit code 0" in reply for reply in replies)
    assert len(await _boxes_of(thread)) == 1
    assert sorted((await _say(graph, "run cat both.txt", thread=thread)).split()[:2]) == ["a", "b"]


async def test_a_gone_sandbox_is_replaced_and_the_agent_is_told(store: InMemoryStore) -> None:
    graph, thread = _graph(store), uuid.uuid4().hex
    await _say(graph, "run echo x > f.txt", thread=thread)
    [box] = await _boxes_of(thread)
    await get_provider(network=False).delete(box.name, reason="expired (idle 4000s > 3600s)")
    reply = await _say(graph, "run cat f.txt", thread=thread)
    assert "sandbox notice" in reply and "expired" in reply and "files from before are lost" in reply
    assert "No such file" in reply
    [fresh] = await _boxes_of(thread)
    assert fresh.sandbox_id != box.sandbox_id


class FlakyProvider:
    """The local provider, with an outage that can be switched on (fault injection, not a mock)."""

    def __init__(self, inner: LocalProvider) -> None:
        self.inner = inner
        self.name_rules = inner.name_rules
        self.down = False

    async def get_or_create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> Acquired:
        if self.down:
            raise SandboxUnreachableError("provider timed out")
        acquired = await self.inner.get_or_create(name, labels, ttl_seconds)
        acquired.sandbox = FlakySandbox(acquired.sandbox, self)
        return acquired

    async def get(self, name: str) -> SandboxBackendProtocol | None:
        return await self.inner.get(name)

    async def delete(self, name: str, *, reason: str = "deleted") -> bool:
        return await self.inner.delete(name, reason=reason)

    async def list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        return await self.inner.list(labels)


class FlakySandbox(SandboxBackendProtocol):
    def __init__(self, inner: SandboxBackendProtocol, provider: FlakyProvider) -> None:
        self.inner, self.provider = inner, provider

    @property
    def id(self) -> str:
        return self.inner.id

    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: ASYNC109
        if self.provider.down:
            raise SandboxUnreachableError("connection reset by provider")
        return await self.inner.aexecute(command, timeout=timeout)


async def test_an_unreachable_sandbox_fails_the_call_and_keeps_the_box() -> None:
    provider = FlakyProvider(LocalProvider(sandbox_root()))
    backend = LazySandboxBackend(SandboxScope.THREAD, lambda: provider, deployment="t", ttl_seconds=60)
    graph = _graph_with(backend)
    thread = uuid.uuid4().hex
    await _say(graph, "run echo keep > work.txt", thread=thread)
    [before] = await provider.list({})
    provider.down = True
    reply = await _say(graph, "run cat work.txt", thread=thread)
    assert "unreachable" in reply and "kept" in reply
    provider.down = False
    assert "keep" in await _say(graph, "run cat work.txt", thread=thread)
    [after] = await provider.list({})
    assert after.sandbox_id == before.sandbox_id


async def test_no_sandbox_for_a_new_thread_while_the_provider_is_down() -> None:
    provider = FlakyProvider(LocalProvider(sandbox_root()))
    provider.down = True
    backend = LazySandboxBackend(SandboxScope.THREAD, lambda: provider, deployment="t", ttl_seconds=60)
    reply = await _say(_graph_with(backend), "run echo hi", thread=uuid.uuid4().hex)
    assert "no sandbox is available" in reply and "timed out" in reply
    assert await provider.list({}) == []


def _graph_with(backend: LazySandboxBackend) -> Any:
    from deepagents import create_deep_agent

    from deep_agent_service.memory.mounts import build_backend, mounts_for
    from deep_agent_service.offline_model import OfflineChatModel

    return create_deep_agent(
        model=OfflineChatModel(),
        backend=build_backend(mounts_for(("memories",)), default=backend),
        middleware=[SandboxNoticeMiddleware(backend), SandboxFileSync(backend)],
    ).copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})


async def test_memories_and_skills_are_synced_into_the_sandbox_and_changes_back(store: InMemoryStore) -> None:
    graph, thread = _graph(store), uuid.uuid4().hex
    store.put(("acme", "skills", "asst"), "/report/SKILL.md", {"content": "# report skill", "encoding": "utf-8"})
    await _say(graph, "remember tea is green", thread=thread)
    shown = await _say(graph, "run cat /memories/notes.md /skills/report/SKILL.md", thread=thread)
    assert "tea is green" in shown and "# report skill" in shown
    await _say(graph, "run echo coffee is black >> /memories/notes.md; echo new > /memories/extra.md", thread=thread)
    private = ("acme", "private", "asst", "alice")
    notes, extra = store.get(private, "/notes.md"), store.get(private, "/extra.md")
    assert notes is not None and notes.value["content"] == "tea is green\ncoffee is black\n"
    assert extra is not None and extra.value["content"] == "new\n"
    assert "coffee is black" in await _say(graph, "what do you remember", thread=uuid.uuid4().hex)
