"""What every cloud adapter shares: create-if-absent by name, and error classification.

An adapter supplies four SDK calls (`_find`, `_create`, `_remove`, `_list`) and `classify`, which
maps the SDK's exceptions to `SandboxGone` (the box does not exist any more) or
`SandboxUnreachable` (anything else: keep the binding). Handles are wrapped so that errors raised
while a command or file operation runs are classified the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service.sandboxes.provider import (
    Acquired,
    NameRules,
    SandboxError,
    SandboxGone,
    SandboxInfo,
    SandboxUnreachable,
)

Classifier = Callable[[BaseException], SandboxError]

# The async operations the binding calls on a sandbox handle.
_DELEGATED = (
    "aexecute",
    "als",
    "aread",
    "agrep",
    "aglob",
    "awrite",
    "aedit",
    "adelete",
    "aupload_files",
    "adownload_files",
)


class ClassifiedSandbox(SandboxBackendProtocol):
    """A provider's sandbox whose SDK errors surface as `SandboxGone` / `SandboxUnreachable`."""

    def __init__(self, inner: SandboxBackendProtocol, classify: Classifier) -> None:
        self.inner = inner
        self.classify = classify

    @property
    def id(self) -> str:
        return self.inner.id


def _delegate(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: ClassifiedSandbox, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(self.inner, name)(*args, **kwargs)
        except SandboxError:
            raise
        except Exception as error:
            raise self.classify(error) from error

    method.__name__ = name
    return method


for _name in _DELEGATED:
    setattr(ClassifiedSandbox, _name, _delegate(_name))


class CloudProvider(abc.ABC):
    """Named sandboxes on a cloud service; subclasses are thin maps onto one SDK."""

    name_rules: NameRules

    @abc.abstractmethod
    def classify(self, error: BaseException) -> SandboxError: ...

    @abc.abstractmethod
    async def _find(self, name: str) -> SandboxBackendProtocol | None: ...

    @abc.abstractmethod
    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None:
        """Create the sandbox; may raise the SDK's "already exists" error (a lost race)."""

    @abc.abstractmethod
    async def _remove(self, name: str) -> bool: ...

    @abc.abstractmethod
    async def _list(self, labels: Mapping[str, str]) -> list[SandboxInfo]: ...

    async def _call(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except SandboxError:
            raise
        except Exception as error:
            raise self.classify(error) from error

    async def get(self, name: str) -> SandboxBackendProtocol | None:
        found = await self._call(self._find(name))
        return None if found is None else ClassifiedSandbox(found, self.classify)

    async def get_or_create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> Acquired:
        existing = await self.get(name)
        if existing is not None:
            return Acquired(existing, created=False)
        created = True
        try:
            await self._call(self._create(name, labels, ttl_seconds))
        except SandboxUnreachable:
            # A lost create race looks like a conflict; whatever it was, the re-get decides.
            created = False
        sandbox = await self.get(name)
        if sandbox is None:
            raise SandboxUnreachable(f"sandbox {name} could not be created")
        return Acquired(sandbox, created=created)

    async def delete(self, name: str, *, reason: str = "deleted") -> bool:
        try:
            return bool(await self._call(self._remove(name)))
        except SandboxGone:
            return False

    async def list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        result: list[SandboxInfo] = await self._call(self._list(labels))
        return result


def matches(labels: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    have = labels or {}
    return all(have.get(key) == value for key, value in wanted.items())
