"""`deep-agent`: a terminal client for the service, on langgraph-sdk.

    deep-agent chat [--thread ID] [--assistant ID]   talk; tokens stream, todos/tools/events show live
    deep-agent threads                               your threads
    deep-agent memories [--scope S] [--assistant ID] your memory files

Server and credentials: --url / DEEP_AGENT_URL (default http://127.0.0.1:2024), --api-key /
DEEP_AGENT_API_KEY (api_keys mode) or --token / DEEP_AGENT_TOKEN (jwt mode). In chat, end a line
with `\\` to continue it on the next line, or type `\\n` for a newline; `/quit` leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamMode
from rich.console import Console
from rich.table import Table

from deep_agent_service.client import connect
from deep_agent_service.errors import ServiceError

Prompt = Callable[[str], Awaitable[str]]
STREAM_MODES: list[StreamMode] = ["messages-tuple", "updates", "custom"]
TODO_MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


class CliError(ServiceError, RuntimeError):
    """A problem the user can fix; printed as one line."""


async def terminal_prompt(text: str) -> str:
    return await asyncio.to_thread(input, text)


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {"x-api-key": api_key} if api_key else {}


class Session:
    """One connection to the server, and how it prints."""

    def __init__(self, url: str, headers: dict[str, str], console: Console) -> None:
        self.url, self.headers, self.console = url, headers, console
        # langgraph-sdk sends x-api-key itself (api_key=) and refuses it among custom headers
        others = {name: value for name, value in headers.items() if name != "x-api-key"}
        self.client: LangGraphClient = connect(url=url, api_key=headers.get("x-api-key"), headers=others)

    async def check_credentials(self) -> None:
        """Ask `/info` first: outside local mode it needs valid credentials, so a wrong key is refused
        (401, reported by `main`) before the user types anything."""
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=30) as http:
            (await http.get("/info")).raise_for_status()

    async def resolve_assistant(self, assistant: str) -> str:
        if assistant != "agent":
            return assistant
        found = await self.client.assistants.search(graph_id="agent", metadata={"created_by": "system"}, limit=1)
        if not found:
            raise CliError("the server has no built-in 'agent' assistant: pass --assistant ID")
        return str(found[0]["assistant_id"])

    # --- streaming one turn -------------------------------------------------------------

    async def stream_turn(self, thread_id: str, assistant_id: str, **run: Any) -> None:
        streaming_text = False
        async for part in self.client.runs.stream(
            thread_id, assistant_id, stream_mode=STREAM_MODES, stream_subgraphs=True, **run
        ):
            kind, _, namespace = part.event.partition("|")
            prefix = "[subagent] " if namespace else ""
            if kind == "messages":
                chunk, _meta = part.data
                text = chunk.get("content") if chunk.get("type") in ("AIMessageChunk", "ai") else None
                if isinstance(text, str) and text and not namespace:
                    self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
                    streaming_text = True
            elif kind == "updates" and isinstance(part.data, dict):
                if streaming_text:
                    self.console.print()
                    streaming_text = False
                self.show_updates(part.data, prefix)
            elif kind == "custom":
                self.console.print(f"  ! {prefix}{json.dumps(part.data)}", style="yellow", markup=False)
            elif kind == "error":
                self.console.print(f"  error: {part.data}", style="red", markup=False)
        if streaming_text:
            self.console.print()

    def show_updates(self, updates: dict[str, Any], prefix: str) -> None:
        for update in updates.values():
            if not isinstance(update, dict):
                continue
            for message in update.get("messages") or []:
                if not isinstance(message, dict):
                    continue
                for call in message.get("tool_calls") or []:
                    args = json.dumps(call.get("args", {}), ensure_ascii=False)
                    self.console.print(f"  → {prefix}{call['name']}({args[:80]})", style="cyan", markup=False)
                if message.get("type") == "tool":
                    result = str(message.get("content", "")).replace("\n", " ")
                    self.console.print(f"  ← {prefix}{result[:100]}", style="dim", markup=False)
            if todos := update.get("todos"):
                self.console.print(f"  {prefix}todo:", style="bold")
                for todo in todos:
                    mark = TODO_MARK.get(todo.get("status", ""), "[ ]")
                    self.console.print(f"    {mark} {todo.get('content', '')}", markup=False)

    # --- approvals --------------------------------------------------------------------------

    async def pending_requests(self, thread_id: str) -> list[dict[str, Any]]:
        state = await self.client.threads.get_state(thread_id)
        requests: list[dict[str, Any]] = []
        for task in state.get("tasks") or []:
            for interrupt in task.get("interrupts") or []:
                value = interrupt.get("value") or {}
                requests.extend(value.get("action_requests") or [])
        return requests

    async def decide(self, request: dict[str, Any], prompt: Prompt) -> dict[str, Any]:
        args = json.dumps(request.get("args", {}), ensure_ascii=False)
        self.console.print(f"approval needed: {request.get('name')}({args})", style="bold magenta", markup=False)
        while True:
            answer = (await prompt("approve, edit or reject? [a/e/r] ")).strip().lower()
            if answer in ("a", "approve"):
                return {"type": "approve"}
            if answer in ("r", "reject"):
                reason = await prompt("reason (sent to the agent): ")
                return {"type": "reject", "message": reason or "rejected by the user"}
            if answer in ("e", "edit"):
                edited = await prompt("new arguments as JSON: ")
                try:
                    new_args = json.loads(edited)
                except json.JSONDecodeError as error:
                    self.console.print(f"not JSON: {error}", style="red", markup=False)
                    continue
                return {"type": "edit", "edited_action": {"name": request.get("name"), "args": new_args}}

    async def turn(self, thread_id: str, assistant_id: str, text: str, prompt: Prompt) -> None:
        await self.stream_turn(thread_id, assistant_id, input={"messages": [{"role": "user", "content": text}]})
        while requests := await self.pending_requests(thread_id):
            decisions = [await self.decide(request, prompt) for request in requests]
            await self.stream_turn(thread_id, assistant_id, command={"resume": {"decisions": decisions}})


async def read_message(prompt: Prompt) -> str | None:
    lines: list[str] = []
    while True:
        try:
            line = await prompt("you> " if not lines else "...> ")
        except EOFError:
            return None
        if line.endswith("\\"):
            lines.append(line[:-1])
            continue
        lines.append(line)
        return "\n".join(lines).replace("\\n", "\n")


async def chat(session: Session, thread: str | None, assistant: str, prompt: Prompt) -> None:
    assistant_id = await session.resolve_assistant(assistant)
    thread_id = thread or (await session.client.threads.create())["thread_id"]
    session.console.print(f"thread {thread_id} (resume with --thread {thread_id}); /quit to leave", style="dim")
    while (text := await read_message(prompt)) is not None:
        if text.strip() in ("/quit", "/exit"):
            break
        if text.strip():
            await session.turn(thread_id, assistant_id, text, prompt)


async def threads(session: Session) -> None:
    found = await session.client.threads.search(limit=50, sort_by="updated_at", sort_order="desc")
    table = Table("thread", "status", "updated", "first message")
    for thread in found:
        messages = ((thread.get("values") or {}).get("messages")) or []
        first = next((m.get("content", "") for m in messages if m.get("type") == "human"), "")
        table.add_row(str(thread["thread_id"]), str(thread["status"]), str(thread["updated_at"])[:19], str(first)[:60])
    session.console.print(table)


async def memories(session: Session, scope: str | None, assistant: str, show: bool) -> None:
    assistant_id = await session.resolve_assistant(assistant)
    async with httpx.AsyncClient(base_url=session.url, headers=session.headers, timeout=30) as http:
        response = await http.get("/whoami", params={"assistant_id": assistant_id})
    response.raise_for_status()
    for mount in response.json()["mounts"]:
        if scope and scope not in (mount["scope"], mount["name"]):
            continue
        items = (await session.client.store.search_items(tuple(mount["namespace"]), limit=100))["items"]
        for item in items:
            value = item["value"]
            writer = (value.get("written_by") or {}).get("user", "?")
            path = mount["prefix"] + item["key"].lstrip("/")
            session.console.print(f"{path}  ({len(value.get('content', ''))} chars, by {writer})", markup=False)
            if show:
                session.console.print(value.get("content", ""), markup=False, highlight=False)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("DEEP_AGENT_URL", "http://127.0.0.1:2024"))
    common.add_argument("--api-key", default=os.environ.get("DEEP_AGENT_API_KEY"))
    common.add_argument("--token", default=os.environ.get("DEEP_AGENT_TOKEN"))
    main = argparse.ArgumentParser(prog="deep-agent", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="command", required=True)
    chat_cmd = commands.add_parser("chat", parents=[common], help="talk to the agent")
    chat_cmd.add_argument("--thread", help="continue this thread")
    chat_cmd.add_argument("--assistant", default="agent", help="assistant id (default: the built-in agent)")
    commands.add_parser("threads", parents=[common], help="list your threads")
    mem = commands.add_parser("memories", parents=[common], help="list your memory files")
    mem.add_argument("--scope", help="memories | profile | shared | policies | skills")
    mem.add_argument("--assistant", default="agent")
    mem.add_argument("--show", action="store_true", help="print the files' content too")
    return main


async def run(args: argparse.Namespace, console: Console, prompt: Prompt) -> None:
    session = Session(args.url, auth_headers(args.api_key, args.token), console)
    await session.check_credentials()
    if args.command == "chat":
        await chat(session, args.thread, args.assistant, prompt)
    elif args.command == "threads":
        await threads(session)
    else:
        await memories(session, args.scope, args.assistant, args.show)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    try:
        asyncio.run(run(args, console, terminal_prompt))
    except (httpx.ConnectError, httpx.ConnectTimeout):
        console.print(f"error: cannot reach the server at {args.url}: is it running (`make run`)?", markup=False)
        return 1
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        why = {401: "the server refused the credentials: check --api-key / --token", 403: "not allowed"}
        console.print(f"error: {status} {why.get(status, error.response.text[:200])}", markup=False)
        return 1
    except CliError as error:
        console.print(f"error: {error}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
