"""The sandbox's scratch files mirrored into thread state `files`, and state edits applied back.

Deep Agents UIs show the agent's files from the thread state key `files`, in the shape deepagents'
`StateBackend` keeps them (path -> `FileData`: `content`, `encoding`, `created_at`, `modified_at`),
and save an edit with a state update. With a sandbox as the default backend the files live in the
sandbox, so this middleware keeps the two in step:

- after a tool round that may have changed files (any tool but the read-only file tools), and
  when the run ends, it lists the sandbox's scratch files (everything outside the system
  directories and the memory mounts) and writes the difference into `files`;
- when a run starts, entries of `files` that did not come from the sandbox (a state update, e.g.
  the UI's editor, or files given as run input) are uploaded into the sandbox first, so the agent
  works on the edited file.

Every entry written here carries `sandbox_sha256`, the digest of its `content`: an entry whose
content no longer matches it (or that has none) was edited outside the sandbox. Cost is bounded:
text files up to `SANDBOX_STATE_FILE_MAX_BYTES` are inlined while the run's total stays under
`SANDBOX_STATE_TOTAL_MAX_BYTES`; larger and binary files are listed with a one-line placeholder;
at most `MAX_LISTED` files are listed. Only changed files are downloaded (the listing carries
digests). `check_files_update` is the one rule for what a client may put into `files`; the HTTP
edge (server/files_guard.py, through server/body_guard.py) applies it to state updates and run
input before the server does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shlex
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol
from deepagents.backends.utils import create_file_data, validate_path
from deepagents.middleware.filesystem import FilesystemState
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ToolCallRequest

from deep_agent_service.errors import ServiceError
from deep_agent_service.hooks import ToolHandler, ToolResult
from deep_agent_service.sandboxes.binding import LazySandboxBackend, Target
from deep_agent_service.sandboxes.errors import SandboxError
from deep_agent_service.sandboxes.sync import run_key

logger = logging.getLogger("deep_agent_service.sandboxes.files_state")

FILES_KEY = "files"
DIGEST_KEY = "sandbox_sha256"
MAX_LISTED = 500
RUNS_TRACKED = 1024
# Tools that cannot change the sandbox's files: no listing after them.
READ_ONLY_TOOLS = frozenset({"ls", "read_file", "glob", "grep", "write_todos"})
# Top-level directories that are the sandbox's system (local: bubblewrap's mounts; cloud: the image).
SYSTEM_DIRS = frozenset(
    {
        *("bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "lost+found", "media", "mnt"),
        *("opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"),
    }
)

# Runs inside the sandbox (the host never walks a tree the sandbox controls). stdin: the options;
# stdout: one JSON list of [path, size, mtime, kind, sha256-or-fingerprint].
_LIST_SCRIPT = r"""
import hashlib, json, os, stat, sys
opts = json.load(sys.stdin)
skip, hidden, cap, limit = set(opts["skip"]), tuple(opts["hidden"]), opts["cap"], opts["limit"]
found, more = [], False
def visit(path):
    global more
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        if (path + "/").startswith(hidden):
            return
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return
        for name in names:
            visit(path.rstrip("/") + "/" + name)
        return
    if not stat.S_ISREG(info.st_mode) or path.startswith(hidden):
        return
    if len(found) >= limit:
        more = True
        return
    kind, mark = "large", "%d:%d" % (info.st_size, info.st_mtime_ns)
    if info.st_size <= cap:
        try:
            with open(path, "rb") as handle:
                data = handle.read(cap + 1)
            data.decode("utf-8")
            kind, mark = "text", hashlib.sha256(data).hexdigest()
        except UnicodeDecodeError:
            kind = "binary"
        except OSError:
            return
    found.append([path, info.st_size, info.st_mtime, kind, mark])
for name in sorted(os.listdir("/")):
    if name not in skip:
        visit("/" + name)
print(json.dumps({"files": found, "more": more}))
"""


class FilesUpdateError(ServiceError, ValueError):
    """A client's `files` update cannot be applied; the message says which entry and why."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _decoded(entry: Mapping[str, Any]) -> bytes:
    content = entry["content"]
    if isinstance(content, list):  # deepagents before 0.2 kept lines
        content = "\n".join(str(line) for line in content)
    if entry.get("encoding") == "base64":
        return base64.b64decode(str(content))
    return str(content).encode("utf-8")


def is_edit(entry: Any) -> bool:
    """True for an entry that did not come from the sandbox as it stands (see module doc)."""
    if not isinstance(entry, Mapping):
        return entry is not None
    content = entry.get("content")
    return not isinstance(content, str) or entry.get(DIGEST_KEY) != digest(content)


def check_files_update(files: Any, *, hidden: tuple[str, ...], max_bytes: int) -> dict[str, Any]:
    """The `files` a client sent, checked and in FileData shape (bare strings, as the stock Deep
    Agents UI saves an edit, become FileData); raises `FilesUpdateError` naming the fix."""
    if not isinstance(files, Mapping):
        raise FilesUpdateError(f"`files` must be an object of path -> file, got {type(files).__name__}")
    checked: dict[str, Any] = {}
    for path, given in files.items():
        _check_path(path, hidden)
        entry = create_file_data(given) if isinstance(given, str) else given
        if entry is None:
            raise FilesUpdateError(
                f"files[{path!r}] is null: deleting files through state is not supported; ask the agent to delete it"
            )
        if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), str | list):
            raise FilesUpdateError(
                f"files[{path!r}] must be the file's text, or an object with a text `content` "
                "(and `encoding` utf-8 or base64)"
            )
        if entry.get("encoding", "utf-8") not in ("utf-8", "base64"):
            raise FilesUpdateError(f"files[{path!r}]: encoding must be 'utf-8' or 'base64'")
        if is_edit(entry):
            try:
                size = len(_decoded(entry))
            except ValueError:
                raise FilesUpdateError(f"files[{path!r}]: content is not valid base64") from None
            if size > max_bytes:
                raise FilesUpdateError(
                    f"files[{path!r}] has {size} bytes, more than the {max_bytes} bytes a file in state may hold "
                    "(SANDBOX_STATE_FILE_MAX_BYTES): ask the agent to write it, or upload it another way"
                )
        checked[path] = dict(entry)
    return checked


def _check_path(path: str, hidden: tuple[str, ...]) -> None:
    if not path.startswith("/"):
        raise FilesUpdateError(f"files[{path!r}]: a file path must be absolute (start with /)")
    try:
        normal = validate_path(path)
    except ValueError:
        raise FilesUpdateError(f"files[{path!r}]: '..' and '~' are not allowed in a file path") from None
    if "\0" in path or normal != path:
        raise FilesUpdateError(f"files[{path!r}]: write the path in its plain form ({normal!r})")
    for prefix in hidden:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            raise FilesUpdateError(
                f"files[{path!r}]: {prefix} is persistent memory, not a scratch file: edit it through the "
                "store API (PUT /store/items) or ask the agent"
            )
    top = path.split("/")[1]
    if top in SYSTEM_DIRS:
        raise FilesUpdateError(f"files[{path!r}]: /{top}/ is a system directory of the sandbox, not a scratch file")


@dataclass(frozen=True, slots=True)
class Listed:
    path: str
    size: int
    mtime: float
    kind: str  # text | binary | large
    mark: str  # sha256 of a text file; size:mtime of others


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def placeholder(item: Listed, cap: int) -> str:
    reason = "binary" if item.kind == "binary" else f"larger than the {cap}-byte inline cap"
    return (
        f"[{item.path}: {item.size} bytes, {reason}; modified {_iso(item.mtime)}. "
        "Not shown here: ask the agent to read or summarize it.]"
    )


def entry(content: str, *, created_at: str | None, modified: float) -> dict[str, Any]:
    data: dict[str, Any] = dict(create_file_data(content, created_at=created_at))
    data["modified_at"] = _iso(modified)
    data[DIGEST_KEY] = digest(content)
    return data


class SandboxFilesState(AgentMiddleware[Any, Any]):
    """Keeps thread state `files` and the run's sandbox in step (see module doc)."""

    state_schema = FilesystemState  # the `files` key and its reducer, as deepagents declares them

    def __init__(
        self,
        backend: LazySandboxBackend,
        *,
        hidden: tuple[str, ...],
        file_max_bytes: int,
        total_max_bytes: int,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.hidden = hidden
        self.file_max_bytes = file_max_bytes
        self.total_max_bytes = total_max_bytes
        self._bound: OrderedDict[str, SandboxBackendProtocol] = OrderedDict()
        self._dirty: set[str] = set()
        backend.listeners.append(self._on_bind)

    async def _on_bind(self, sandbox: SandboxBackendProtocol, target: Target) -> None:
        key = run_key()
        self._bound[key] = sandbox
        self._bound.move_to_end(key)
        while len(self._bound) > RUNS_TRACKED:
            self._dirty.discard(self._bound.popitem(last=False)[0])

    # --- state -> sandbox: edits made outside the run ---

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        files = state.get(FILES_KEY) or {}
        edits: dict[str, Any] = {}
        for path, value in files.items():
            if not is_edit(value):
                continue
            try:
                edits.update(check_files_update({path: value}, hidden=self.hidden, max_bytes=self.file_max_bytes))
            except FilesUpdateError as error:  # the HTTP edge refuses these; state written another way
                logger.warning("not applying a files entry to the sandbox: %s", error)
        if not edits:
            return None
        try:
            sandbox, _ = await self.backend.resolve()
            responses = await sandbox.aupload_files([(path, _decoded(value)) for path, value in edits.items()])
        except SandboxError as error:
            logger.warning("files edited through state were not applied to the sandbox yet: %s", error)
            return None
        failed = {r.path for r in responses if r.error}
        for response in responses:
            if response.error:
                logger.warning("applying the edit of %s to the sandbox failed: %s", response.path, response.error)
        self._dirty.add(run_key())
        now = datetime.now(UTC).timestamp()
        return {
            FILES_KEY: {
                path: entry(_decoded(value).decode("utf-8", errors="replace"), created_at=None, modified=now)
                for path, value in edits.items()
                if path not in failed
            }
        }

    # --- sandbox -> state: after tool rounds that may have changed files, and at the end ---

    async def awrap_tool_call(self, request: ToolCallRequest, handler: ToolHandler) -> ToolResult:
        result = await handler(request)
        key = run_key()
        if request.tool_call["name"] not in READ_ONLY_TOOLS and key in self._bound:
            self._dirty.add(key)
        return result

    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return await self._mirror(state)

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        update = await self._mirror(state)
        self._bound.pop(run_key(), None)
        return update

    async def _mirror(self, state: Any) -> dict[str, Any] | None:
        key = run_key()
        sandbox = self._bound.get(key)
        if key not in self._dirty or sandbox is None:
            return None
        self._dirty.discard(key)
        try:
            changes = await self.changes(sandbox, state.get(FILES_KEY) or {})
        except SandboxError as error:  # the run goes on; the files panel catches up on the next listing
            logger.warning("listing the sandbox's files for state failed: %s", error)
            return None
        return {FILES_KEY: changes} if changes else None

    async def listing(self, sandbox: SandboxBackendProtocol) -> tuple[list[Listed], bool]:
        options = {
            "skip": sorted(SYSTEM_DIRS),
            "hidden": list(self.hidden),
            "cap": self.file_max_bytes,
            "limit": MAX_LISTED,
        }
        command = f"printf %s {shlex.quote(json.dumps(options))} | python3 -c {shlex.quote(_LIST_SCRIPT)}"
        result = await sandbox.aexecute(command)
        try:
            parsed = json.loads(result.output.strip().splitlines()[-1])
            return [Listed(*item) for item in parsed["files"]], bool(parsed["more"])
        except (ValueError, IndexError, KeyError, TypeError):
            raise SandboxError(f"the file listing failed (exit {result.exit_code}): {result.output[-300:]}") from None

    async def changes(self, sandbox: SandboxBackendProtocol, files: Mapping[str, Any]) -> dict[str, Any]:
        """The `files` update that makes state show the sandbox as it is now."""
        listed, more = await self.listing(sandbox)
        update: dict[str, Any] = {}
        budget = self.total_max_bytes
        fetch: list[Listed] = []
        for item in listed:
            current = files.get(item.path)
            inline = item.kind == "text" and item.size <= budget
            if inline:
                budget -= item.size
                if isinstance(current, Mapping) and current.get(DIGEST_KEY) == item.mark and not is_edit(current):
                    continue  # unchanged since it was put in state
                fetch.append(item)
                continue
            text = placeholder(item, self.file_max_bytes)
            if not (isinstance(current, Mapping) and current.get("content") == text):
                update[item.path] = entry(text, created_at=_created(current), modified=item.mtime)
        for response in await sandbox.adownload_files([item.path for item in fetch]) if fetch else []:
            item = next(i for i in fetch if i.path == response.path)
            if response.content is None:
                continue  # deleted between the listing and the download: the next listing says so
            text = response.content.decode("utf-8", errors="replace")
            update[item.path] = entry(text, created_at=_created(files.get(item.path)), modified=item.mtime)
        if not more:
            present = {item.path for item in listed}
            update.update({path: None for path in files if path not in present and not is_edit(files[path])})
        return update


def _created(current: Any) -> str | None:
    return current.get("created_at") if isinstance(current, Mapping) else None
