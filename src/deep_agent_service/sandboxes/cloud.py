"""What every cloud adapter shares: names, create-if-absent, label filtering, error classification.

An adapter is one class over one SDK. It says which service it is (`service`, for messages) and
which SDK exceptions mean "no such box" (`not_found_errors`), and supplies four SDK calls:
`_find` (the handle; may raise not-found), `_create` (may raise the SDK's "already exists" on a
lost race), `_remove` (may raise not-found) and `_boxes` (every box of the service: the base
filters by labels). Every SDK error is classified once, here: not-found -> `SandboxGoneError` (the box
does not exist any more), anything else -> `SandboxUnreachableError` (keep the binding). Handles are
wrapped so that errors raised while a command or file operation runs are classified the same way.
SDKs that are synchronous run their calls in worker threads (`asyncio.to_thread`) inside these calls.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service.sandboxes.errors import SandboxError, SandboxGoneError, SandboxUnreachableError, classified
from deep_agent_service.sandboxes.provider import DEFAULT_NAME_RULES, Acquired, NameRules, SandboxInfo

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
    """A provider's sandbox whose SDK errors surface as `SandboxGoneError` / `SandboxUnreachableError`."""

    def __init__(self, inner: SandboxBackendProtocol, classify: Classifier) -> None:
        self.inner = inner
        self.classify = classify

    @property
    def id(self) -> str:
        return self.inner.id


def _delegate(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: ClassifiedSandbox, *args: Any, **kwargs: Any) -> Any:
        return await classified(getattr(self.inner, name)(*args, **kwargs), self.classify)

    method.__name__ = name
    return method


for _name in _DELEGATED:
    setattr(ClassifiedSandbox, _name, _delegate(_name))


class CloudProvider(abc.ABC):
    """Named sandboxes on a cloud service; subclasses are thin maps onto one SDK."""

    service: ClassVar[str]
    name_rules: ClassVar[NameRules] = DEFAULT_NAME_RULES

    @classmethod
    @abc.abstractmethod
    def not_found_errors(cls) -> tuple[type[BaseException], ...]:
        """The SDK exceptions that mean the box does not exist (imported lazily: SDKs are extras)."""

    @classmethod
    def classify(cls, error: BaseException) -> SandboxError:
        if isinstance(error, cls.not_found_errors()):
            return SandboxGoneError(f"{cls.service} sandbox not found: {error}")
        return SandboxUnreachableError(f"{cls.service}: {type(error).__name__}: {error}")

    @abc.abstractmethod
    async def _find(self, name: str) -> SandboxBackendProtocol | None: ...

    @abc.abstractmethod
    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None: ...

    @abc.abstractmethod
    async def _remove(self, name: str) -> bool: ...

    @abc.abstractmethod
    async def _boxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        """The service's boxes; `labels` may narrow the query where the SDK can, the base filters."""

    async def _call(self, call: Awaitable[Any]) -> Any:
        return await classified(call, self.classify)

    async def get(self, name: str) -> SandboxBackendProtocol | None:
        try:
            found = await self._call(self._find(name))
        except SandboxGoneError:
            return None
        return None if found is None else ClassifiedSandbox(found, self.classify)

    async def get_or_create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> Acquired:
        existing = await self.get(name)
        if existing is not None:
            return Acquired(existing, created=False)
        created = True
        try:
            await self._call(self._create(name, labels, ttl_seconds))
        except SandboxUnreachableError:
            # A lost create race looks like a conflict; whatever it was, the re-get decides.
            created = False
        sandbox = await self.get(name)
        if sandbox is None:
            raise SandboxUnreachableError(f"sandbox {name} could not be created")
        return Acquired(sandbox, created=created)

    async def delete(self, name: str, *, reason: str = "deleted") -> bool:
        try:
            return bool(await self._call(self._remove(name)))
        except SandboxGoneError:
            return False

    async def list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        boxes: list[SandboxInfo] = await self._call(self._boxes(labels))
        return [box for box in boxes if all(box.labels.get(key) == value for key, value in labels.items())]
