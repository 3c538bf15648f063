"""Performance plumbing keeps semantics: fused middleware, and the store backend's async reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, TodoListMiddleware
from langchain.agents.middleware.types import hook_config
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.store.memory import InMemoryStore

from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.guardrails.limits import model_call_limit
from deep_agent_service.memory.store import QuotaStoreBackend
from deep_agent_service.middleware_fusion import fuse


class Recorder(AgentMiddleware[Any, Any]):
    def __init__(self, label: str, log: list[str], *, jump: bool = False) -> None:
        super().__init__()
        self.label = label
        self.log = log
        self.jump = jump

    @property
    def name(self) -> str:
        return f"Recorder{self.label}"

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        self.log.append(f"before {self.label} sees {len(state['messages'])}")
        update: dict[str, Any] = {"messages": [AIMessage(content=self.label, id=f"m-{self.label}")]}
        return {**update, "jump_to": "end"} if self.jump else update

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        self.log.append(f"after {self.label}")
        return None

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        self.log.append(f"wrap {self.label} in")
        result = await handler(request)
        self.log.append(f"wrap {self.label} out")
        return result


async def test_fused_hooks_run_in_stack_order_and_see_earlier_updates() -> None:
    log: list[str] = []
    fused = fuse("Fused", [Recorder("a", log), Recorder("b", log)])
    update = await fused.abefore_model({"messages": [HumanMessage(content="hi", id="h")]}, None)
    assert log == ["before a sees 1", "before b sees 2"]
    assert [m.content for m in update["messages"]] == ["a", "b"]
    await fused.aafter_agent({"messages": []}, None)
    assert log[-2:] == ["after b", "after a"]  # after hooks: reverse order, as create_agent wires them

    async def tool(request: Any) -> str:
        log.append("tool")
        return "done"

    assert await fused.awrap_tool_call({}, tool) == "done"
    assert log[-5:] == ["wrap a in", "wrap b in", "tool", "wrap b out", "wrap a out"]  # first = outermost


async def test_a_jump_skips_the_later_hooks_and_the_jump_target_is_declared() -> None:
    log: list[str] = []
    fused = fuse("Fused", [Recorder("a", log, jump=True), Recorder("b", log)])
    update = await fused.abefore_model({"messages": []}, None)
    assert update["jump_to"] == "end" and log == ["before a sees 0"]
    assert type(fused).abefore_model.__can_jump_to__ == ["end"]  # type: ignore[attr-defined]


def test_fused_middleware_keeps_the_parts_tools_and_state() -> None:
    limit = model_call_limit(3, 0)
    assert limit is not None
    fused = fuse("Fused", [limit, TodoListMiddleware()])
    assert [tool.name for tool in fused.tools] == ["write_todos"]
    assert {"todos", "run_model_call_count", "thread_model_call_count"} <= set(fused.state_schema.__annotations__)


def test_the_service_agent_has_one_node_per_hook_kind_for_its_own_middleware() -> None:
    nodes = set(build_agent(AssistantSettings()).get_graph().nodes)
    ours = {node for node in nodes if node.startswith("DeepAgentService.")}
    hooks = ("before_agent", "before_model", "after_model", "after_agent")
    assert ours == {f"DeepAgentService.{hook}" for hook in hooks}


async def test_async_reads_return_what_the_sync_reads_return() -> None:
    store = InMemoryStore()
    backend = QuotaStoreBackend(namespace=lambda _rt: ("acme", "skills", "a"), store=store)
    for key, text in {"/x/SKILL.md": "---\nname: x\n---\nbody", "/notes.md": "alpha\nbeta", "/y/z.md": "beta"}.items():
        assert backend.write(key, text).error is None
    other = QuotaStoreBackend(namespace=lambda _rt: ("acme", "skills", "b"), store=store)
    assert other.write("/secret.md", "beta").error is None

    assert await backend.als("/") == backend.ls("/")
    assert await backend.als("/x/") == backend.ls("/x/")
    assert await backend.aglob("**/*.md") == backend.glob("**/*.md")
    assert await backend.agrep("beta") == backend.grep("beta")
    paths = ["/x/SKILL.md", "/missing.md", "/notes.md"]
    assert await backend.adownload_files(paths) == backend.download_files(paths)
    assert "secret" not in str(await backend.agrep("beta"))  # another namespace stays invisible
