"""The offline model: a deterministic, tool-calling chat model for key-less, network-less runs.

It is not a language model. It reads the latest human message and follows a fixed script that
drives the agent's real tools, so the whole service (memory mounts, sandbox, todos, subagents,
guardrails) can be tried and tested with no API key and no network:

    remember <fact>            append <fact> to /memories/notes.md
    what do you remember       read /memories/notes.md back
    write <path>\\n<content>    write_file; quotes the tool result
    read <path>                read_file; quotes the content or the error
    edit <path>: <old> => <new>   edit_file; quotes the tool result
    delete <path>              delete; quotes the tool result
    run <command>              execute; quotes the output or the error
    plan: a; b; c              write_todos with those items
    delegate: <task>           the `task` tool (general-purpose subagent); quotes its result
    calls <json>               every call of a JSON list [{"name": tool, "args": {...}}, ...] at once
                               (parallel tool calls); replies with a JSON list of their results, in order
    markdown demo              a reply in GitHub-flavoured markdown (table, task list, code, link,
                               raw HTML), to try a client's rendering
    sleep <seconds>            a tool named `sleep` (test graphs only: the service's agent has none,
                               so there the tool node answers with an unknown-tool error)
    anything else              a short help text listing this script

Every reply carries `model_provider="offline"` in its response metadata.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

OFFLINE_PROVIDER = "offline"
NOTES_PATH = "/memories/notes.md"
HELP_TEXT = (
    "I am the offline model (no API key, no network): I follow a fixed script.\n"
    "- remember <fact>: save a fact to /memories/notes.md\n"
    "- what do you remember: read your notes back\n"
    "- write <path> + newline + content: write a file\n"
    "- read <path>: read a file\n"
    "- edit <path>: <old> => <new>: replace text in a file\n"
    "- delete <path>: delete a file\n"
    "- run <command>: run a shell command in the sandbox\n"
    "- plan: a; b; c: write a todo list\n"
    "- delegate: <task>: hand a task to a subagent\n"
    "- markdown demo: a reply with a table, a task list and a code block\n"
    "\nSet MODEL=provider:name and a provider key for a real model."
)
MARKDOWN_DEMO = """## Markdown demo

| Tool | What it does |
| --- | --- |
| `write_todos` | keeps the plan |
| `execute` | runs a command in the sandbox |

- [x] render a table
- [ ] render a task list

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```

A [link](https://example.com/docs) and raw HTML, shown as text: <img src="x" onerror="alert(1)">
"""
_READ_HEADER = re.compile(r"^@@ .* @@$")
_NOT_FOUND = re.compile(r"not found|does not exist|no such file", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Turn:
    """What happened since the latest human message: the request and the tool results, in order."""

    request: str
    results: list[ToolMessage]


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") if isinstance(block, dict) else str(block) for block in content)


def _current_turn(messages: Sequence[BaseMessage]) -> _Turn:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            results = [m for m in messages[index + 1 :] if isinstance(m, ToolMessage)]
            return _Turn(request=_text(messages[index]).strip(), results=results)
    return _Turn(request="", results=[])


def file_text(read_output: str) -> str:
    """The file's text from `read_file`'s output: everything after its `@@ lines ... @@` status header."""
    lines = read_output.split("\n")
    for index, line in enumerate(lines):
        if _READ_HEADER.match(line):
            return "\n".join(lines[index + 1 :])
    return read_output


def _failed(result: ToolMessage) -> bool:
    return result.status == "error" or _text(result).startswith("Error")


def _remember(fact: str, results: list[ToolMessage]) -> _Call | str:
    if not results:
        return _Call("read_file", {"file_path": NOTES_PATH})
    if len(results) == 1:
        read = results[0]
        if _failed(read) and not _NOT_FOUND.search(_text(read)):
            return f"I could not read {NOTES_PATH}: {_text(read)}"
        existing = "" if _failed(read) else file_text(_text(read)).rstrip("\n")
        content = f"{existing}\n{fact}\n" if existing else f"{fact}\n"
        return _Call("write_file", {"file_path": NOTES_PATH, "content": content})
    written = results[-1]
    if _failed(written):
        return f"I could not save that: {_text(written)}"
    return f"I will remember: {fact}"


def _recall(results: list[ToolMessage]) -> _Call | str:
    if not results:
        return _Call("read_file", {"file_path": NOTES_PATH})
    read = results[0]
    if _failed(read):
        return "I don't remember anything yet." if _NOT_FOUND.search(_text(read)) else _text(read)
    notes = file_text(_text(read)).strip()
    return f"Here is what I remember:\n{notes}" if notes else "I don't remember anything yet."


def _single_tool(call: _Call, results: list[ToolMessage], reply: Callable[[str], str]) -> _Call | str:
    return call if not results else reply(_text(results[-1]))


def _calls(script: str, results: list[ToolMessage]) -> list[_Call] | str:
    """`calls <json>`: all the listed tool calls in one message; then their results as a JSON list."""
    try:
        listed = json.loads(script)
        calls = [_Call(str(item["name"]), dict(item["args"])) for item in listed]
    except (ValueError, TypeError, KeyError):
        return 'calls needs a JSON list like [{"name": "read_file", "args": {"file_path": "/a.md"}}]'
    if not results:
        return calls
    # ids end in `_<index>` (see `_respond`): the results in the order of the calls
    by_index = {result.tool_call_id.rsplit("_", 1)[-1]: _text(result) for result in results}
    return json.dumps([by_index.get(str(index), "") for index in range(len(calls))])


def next_step(messages: Sequence[BaseMessage]) -> _Call | list[_Call] | str:  # noqa: PLR0911 - one return per line
    """The script: the next tool call(s) to make, or the final reply."""
    turn = _current_turn(messages)
    request, results = turn.request, turn.results
    lowered = request.lower()
    first_line, _, rest = request.partition("\n")
    if lowered.startswith("calls "):
        return _calls(request[len("calls ") :], results)
    if lowered.startswith("remember "):
        return _remember(request[len("remember ") :].strip(), results)
    if "what do you remember" in lowered:
        return _recall(results)
    if lowered.startswith("write "):
        path = first_line[len("write ") :].strip()
        return _single_tool(_Call("write_file", {"file_path": path, "content": rest}), results, lambda r: r)
    if lowered.startswith("read "):
        path = first_line[len("read ") :].strip()
        return _single_tool(
            _Call("read_file", {"file_path": path}),
            results,
            lambda r: r if r.startswith("Error") else f"Contents of {path}:\n{file_text(r)}",
        )
    if lowered.startswith("edit ") and ":" in request and "=>" in request:
        path, _, change = request[len("edit ") :].partition(":")
        old, _, new = change.partition("=>")
        call = _Call("edit_file", {"file_path": path.strip(), "old_string": old.strip(), "new_string": new.strip()})
        return _single_tool(call, results, lambda r: r)
    if lowered.startswith("delete "):
        call = _Call("delete", {"file_path": request[len("delete ") :].strip()})
        return _single_tool(call, results, lambda r: r)
    if lowered.startswith("run "):
        command = request[len("run ") :].strip()
        return _single_tool(_Call("execute", {"command": command}), results, lambda r: r)
    if lowered.startswith("plan:"):
        items = [item.strip() for item in request[len("plan:") :].split(";") if item.strip()]
        todos = [{"content": item, "status": "pending"} for item in items]
        return _single_tool(
            _Call("write_todos", {"todos": todos}),
            results,
            lambda _r: "Plan:\n" + "\n".join(f"- [ ] {item}" for item in items),
        )
    if lowered.startswith("delegate:"):
        task = request[len("delegate:") :].strip()
        call = _Call("task", {"description": task, "subagent_type": "general-purpose"})
        return _single_tool(call, results, lambda r: f"The subagent replied:\n{r}")
    if lowered.startswith("markdown demo"):
        return MARKDOWN_DEMO
    if lowered.startswith("sleep "):
        call = _Call("sleep", {"seconds": request[len("sleep ") :].strip()})
        return _single_tool(call, results, lambda r: f"Done sleeping: {r}")
    return HELP_TEXT


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class OfflineChatModel(BaseChatModel):
    """Deterministic scripted chat model; see the module docstring for the script."""

    model_name: str = OFFLINE_PROVIDER

    @property
    def _llm_type(self) -> str:
        return OFFLINE_PROVIDER

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        # The script names tools directly; binding records nothing and returns the model itself.
        return self

    def _respond(self, messages: list[BaseMessage]) -> AIMessage:
        step = next_step(messages)
        prompt_tokens = sum(_estimate_tokens(_text(m)) for m in messages)
        metadata = {"model_name": self.model_name, "model_provider": OFFLINE_PROVIDER}
        if isinstance(step, _Call):
            step = [step]
        if isinstance(step, list):
            turn = uuid.uuid4().hex[:12]
            output_tokens = sum(_estimate_tokens(json.dumps(call.args)) for call in step)
            return AIMessage(
                content="",
                tool_calls=[
                    {"name": call.name, "args": call.args, "id": f"call_{turn}_{index}", "type": "tool_call"}
                    for index, call in enumerate(step)
                ],
                response_metadata=metadata,
                usage_metadata={
                    "input_tokens": prompt_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": prompt_tokens + output_tokens,
                },
            )
        return AIMessage(
            content=step,
            response_metadata=metadata,
            usage_metadata={
                "input_tokens": prompt_tokens,
                "output_tokens": _estimate_tokens(step),
                "total_tokens": prompt_tokens + _estimate_tokens(step),
            },
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._respond(messages))])

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk]:
        message = self._respond(messages)
        if message.tool_calls:
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": call["name"],
                        "args": json.dumps(call["args"]),
                        "id": call["id"],
                        "index": index,
                        "type": "tool_call_chunk",
                    }
                    for index, call in enumerate(message.tool_calls)
                ],
                response_metadata=message.response_metadata,
                usage_metadata=message.usage_metadata,
                chunk_position="last",
            )
            return
        words = re.findall(r"\S*\s*", _text(message))
        words = [w for w in words if w]
        for index, word in enumerate(words):
            last = index == len(words) - 1
            yield AIMessageChunk(
                content=word,
                response_metadata=message.response_metadata if last else {},
                usage_metadata=message.usage_metadata if last else None,
                chunk_position="last" if last else None,
            )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager and isinstance(chunk.content, str) and chunk.content:
                run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager and isinstance(chunk.content, str) and chunk.content:
                await run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)
