"""How a sandbox operation fails: two classes the binding acts on differently, and a refusal.

*Gone*: the box was deleted or expired; its files are lost and a fresh one may be created (the
user is told). *Unreachable*: the provider failed or could not be reached; the box may still hold
work, so the binding is kept and the call fails clearly. Every provider maps its own failures
onto these (cloud adapters in `cloud.CloudProvider.classify`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from deep_agent_service.errors import ServiceError

T = TypeVar("T")


class SandboxError(ServiceError, RuntimeError):
    """Base class of sandbox failures."""


class SandboxGoneError(SandboxError):
    """The sandbox was deleted or expired: its files are lost; a fresh one may be created."""


class SandboxUnreachableError(SandboxError):
    """The provider could not be reached or failed: the sandbox may still hold work; keep it."""


class SandboxBusyError(SandboxError):
    """The sandbox is running a command; it was not deleted."""


async def classified(
    call: Awaitable[T], classify: Callable[[Exception], SandboxError], *, catch: type[Exception] = Exception
) -> T:
    """Await `call`; a failure of type `catch` surfaces as `classify(error)` (ours pass through)."""
    try:
        return await call
    except SandboxError:
        raise
    except catch as error:
        raise classify(error) from error
