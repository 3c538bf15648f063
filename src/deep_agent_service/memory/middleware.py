"""Agent middleware for memory: canonical paths and clear refusals, and seed-once default content.

Seeding happens at the start of a run (`abefore_agent`), not at server start-up: the namespaces
to seed depend on the run's org and assistant, which only a run knows. Each namespace is seeded at
most once per process; a file is written only when its key is absent, so a redeploy never
overwrites an edit, and two concurrent first runs write the same bytes (idempotent).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepagents.backends.utils import create_file_data
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolCall, ToolMessage
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.store.base import BaseStore

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.hooks import ToolHandler, ToolResult
from deep_agent_service.memory.mounts import WRITE_TOOLS, Mount, mount_at
from deep_agent_service.memory.paths import PathRefusedError, canonical_path, mount_root_error
from deep_agent_service.tenancy.identity import RunIdentity, Scope, identity_from_runtime, namespace_for

# The argument that holds the path, per file tool (glob's `pattern` is a pattern, not a path).
PATH_ARGUMENTS: dict[str, str] = {
    "read_file": "file_path",
    "write_file": "file_path",
    "edit_file": "file_path",
    "delete": "file_path",
    "ls": "path",
    "glob": "path",
    "grep": "path",
}
SEED_ROOT = PROJECT_ROOT / "seed"
# seed/<folder>/ -> the scope its files are written to
SEED_FOLDERS: dict[str, Scope] = {"policies": Scope.ORG, "shared": Scope.ASSISTANT, "skills": Scope.SKILLS}


class ReadOnlyMountGuard(AgentMiddleware[Any, Any]):
    """Puts every file tool's path in its canonical form first, and says why a write cannot happen.

    The tool then sees the canonical path, so deepagents' permission rules, the composite
    backend's routing and the store's quotas all judge the same string. Refused with a tool error
    that names the rule: a path with no canonical form (`..`, NUL, `%2e`, look-alikes, too long;
    see `memory.paths`), a write, edit or delete of a mount itself (`/memories`), and any change
    under a read-only mount."""

    def __init__(self, mounts: tuple[Mount, ...]) -> None:
        super().__init__()
        self.mounts = mounts

    def _error(self, call: ToolCall, message: str) -> ToolMessage:
        return ToolMessage(content=message, name=call["name"], tool_call_id=call["id"] or "", status="error")

    async def awrap_tool_call(self, request: ToolCallRequest, handler: ToolHandler) -> ToolResult:
        call = request.tool_call
        argument = PATH_ARGUMENTS.get(call["name"])
        raw = call["args"].get(argument) if argument else None
        if argument is None or not isinstance(raw, str):
            return await handler(request)
        try:
            path = canonical_path(raw)
        except PathRefusedError as refused:
            return self._error(call, f"Error: {refused}. Nothing was done.")
        located = mount_at(self.mounts, path) if call["name"] in WRITE_TOOLS else None
        if located is not None:
            mount, key = located
            if key == "/":
                return self._error(call, f"Error: {mount_root_error(mount.prefix)}")
            if not mount.agent_writable:
                return self._error(
                    call,
                    f"Error: {mount.prefix} is read-only ({mount.holds}); {call['name']} on {path} was refused "
                    "and nothing changed. Write your own notes under a writable path instead.",
                )
        if path != raw:
            request = request.override(tool_call={**call, "args": {**call["args"], argument: path}})
        return await handler(request)


@dataclass(frozen=True, slots=True)
class SeedFile:
    scope: Scope
    key: str
    content: str


def load_seed(root: Path = SEED_ROOT) -> tuple[SeedFile, ...]:
    """Every seed file: `seed/policies/x.md` -> (ORG, "/x.md"), `seed/skills/a/SKILL.md` -> (SKILLS, "/a/SKILL.md")."""
    files = []
    for folder, scope in SEED_FOLDERS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            key = "/" + path.relative_to(base).as_posix()
            files.append(SeedFile(scope, key, path.read_text(encoding="utf-8")))
    return tuple(files)


def seed_value(content: str) -> dict[str, Any]:
    data = create_file_data(content)
    return {
        "content": data["content"],
        "encoding": "utf-8",
        "created_at": data["created_at"],
        "modified_at": data["modified_at"],
        "written_by": {"user": "seed", "org": None, "run_id": None, "at": data["created_at"]},
    }


class SeedOnceMiddleware(AgentMiddleware[Any, Any]):
    """Writes the repo's `seed/` content into the run's org and assistant namespaces, where absent."""

    def __init__(self, files: tuple[SeedFile, ...], scopes: frozenset[Scope]) -> None:
        super().__init__()
        self.files = tuple(f for f in files if f.scope in scopes)
        # Per store: one compiled agent can serve several stores (tests, benchmarks).
        self._seeded: weakref.WeakKeyDictionary[BaseStore, set[tuple[str, ...]]] = weakref.WeakKeyDictionary()

    def _plan(self, who: RunIdentity, done: set[tuple[str, ...]]) -> dict[tuple[str, ...], list[SeedFile]]:
        plan: dict[tuple[str, ...], list[SeedFile]] = {}
        for seed in self.files:
            if seed.scope != Scope.ORG and not who.assistant_id:
                continue
            namespace = namespace_for(seed.scope, who)
            if namespace not in done:
                plan.setdefault(namespace, []).append(seed)
        return plan

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        store: BaseStore | None = runtime.store
        if not self.files or store is None:
            return None
        done = self._seeded.setdefault(store, set())
        for namespace, seeds in self._plan(identity_from_runtime(runtime), done).items():
            for seed in seeds:
                if await store.aget(namespace, seed.key) is None:
                    await store.aput(namespace, seed.key, seed_value(seed.content))
            done.add(namespace)
        return None
