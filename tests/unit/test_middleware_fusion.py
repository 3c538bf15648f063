"""Performance plumbing keeps semantics: fused middleware, and the store backend's async reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NotRequired

from langchain.agents import AgentState, create_agent
from langchain.agents.middleware import AgentMiddleware, TodoListMiddleware
from langchain.agents.middleware.types import hook_config
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.guardrails.limits import model_call_limit
from deep_agent_service.memory.store import QuotaStoreBackend
from deep_agent_service.middleware_fusion import fuse


class ModelHooksState(AgentState[Any]):
    calls: NotRequired[int]


@tool
def echo(text: str) -> str:
    """Echo the text."""
    return text


class AgentHooks(AgentMiddleware[Any, Any]):
    """before_agent / after_agent hooks that log what they see, and a tool wrapper."""

    def __init__(self, label: str, log: list[str], *, jump: bool = False) -> None:
        super().__init__()
        self.label = label
        self.log = log
        self.jump = jump

    @property
    def name(self) -> str:
        return f"AgentHooks{self.label}"

    @hook_config(can_jump_to=["end"])
    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
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
    fused = fuse("Fused", [AgentHooks("a", log), AgentHooks("b", log)])
    update = await fused.abefore_agent({"messages": [HumanMessage(content="hi", id="h")]}, None)
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
    fused = fuse("Fused", [AgentHooks("a", log, jump=True), AgentHooks("b", log)])
    update = await fused.abefore_agent({"messages": []}, None)
    assert update["jump_to"] == "end" and log == ["before a sees 0"]
    assert type(fused).abefore_agent.__can_jump_to__ == ["end"]  # type: ignore[attr-defined]


class ModelHooks(AgentMiddleware[Any, Any]):
    """before_model / after_model hooks: count calls in state, stop before the `stop_at`-th call."""

    state_schema = ModelHooksState

    def __init__(self, log: list[str], stop_at: int) -> None:
        super().__init__()
        self.log = log
        self.stop_at = stop_at

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        calls = state.get("calls", 0)
        self.log.append(f"before model, {calls} calls, {len(state['messages'])} messages")
        if calls + 1 >= self.stop_at:
            return {"messages": [AIMessage(content=f"stopped before call {calls + 1}")], "jump_to": "end"}
        return None

    async def aafter_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        self.log.append(f"after model sees {state['messages'][-1].content!r}")
        return {"calls": state.get("calls", 0) + 1}

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        self.log.append(f"after agent, {state.get('calls', 0)} calls")
        return None


class ScriptedModel(GenericFakeChatModel):
    """Answers with the scripted replies in order, whatever tools are bound."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _call_echo() -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": "echo", "args": {"text": "x"}, "id": "c1"}])


def _agent(middleware: AgentMiddleware[Any, Any], replies: list[AIMessage]) -> Any:
    return create_agent(
        model=ScriptedModel(messages=iter(replies)),
        tools=[echo],
        middleware=[fuse("Fused", [middleware])],
        checkpointer=InMemorySaver(),
    )


async def test_model_hooks_run_inside_the_model_call_and_their_updates_reach_the_state() -> None:
    log: list[str] = []
    replies = [
        AIMessage(content="", tool_calls=[{"name": "echo", "args": {"text": "x"}, "id": "c1"}]),
        AIMessage("done"),
    ]
    agent = _agent(ModelHooks(log, stop_at=99), replies)
    assert not any("before_model" in node or "after_model" in node for node in agent.get_graph().nodes)
    config = {"configurable": {"thread_id": "t"}}
    state = await agent.ainvoke({"messages": [HumanMessage("hi")]}, config)
    assert state["calls"] == 2 and state["messages"][-1].content == "done"
    assert log == [
        "before model, 0 calls, 1 messages",
        "after model sees ''",
        "before model, 1 calls, 3 messages",  # the tool ran between the calls
        "after model sees 'done'",
        "after agent, 2 calls",
    ]


async def test_a_before_model_jump_skips_the_model_and_ends_the_run_with_its_message() -> None:
    log: list[str] = []
    replies = [_call_echo(), AIMessage("no")]
    agent = _agent(ModelHooks(log, stop_at=2), replies)
    state = await agent.ainvoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "t"}})
    assert [m.content for m in state["messages"]][-1] == "stopped before call 2"
    assert state["calls"] == 1 and "after model sees 'no'" not in log  # the second reply was never asked for
    assert log[-1] == "after agent, 1 calls"


def test_fused_middleware_keeps_the_parts_tools_and_state() -> None:
    limit = model_call_limit(3, 0)
    assert limit is not None
    fused = fuse("Fused", [limit, TodoListMiddleware()])
    assert [tool.name for tool in fused.tools] == ["write_todos"]
    assert {"todos", "run_model_call_count", "thread_model_call_count"} <= set(fused.state_schema.__annotations__)


def test_the_service_agent_adds_no_node_per_model_call() -> None:
    nodes = set(build_agent(AssistantSettings()).get_graph().nodes)
    ours = {node for node in nodes if node.startswith("DeepAgentService.")}
    assert ours == {"DeepAgentService.before_agent", "DeepAgentService.after_agent"}


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
