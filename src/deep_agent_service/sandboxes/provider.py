"""The sandbox provider contract, deterministic names, labels and the two failure classes.

A sandbox is found by NAME, never by a process-local handle: `<deployment>-thread-<thread_id>` or
`<deployment>-assistant-<assistant_id>-user-<org>/<user>` (an assistant's box is per user: a box
holds its user's private memory, so no two users ever open the same one), encoded to what the
provider accepts. Every replica and
every restart therefore finds the same box, and `get_or_create` is create-if-absent followed by a
re-get, so a create race (two runs on a new thread, two replicas) ends with exactly one sandbox.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from deepagents.backends.protocol import SandboxBackendProtocol

# Label keys every provider stores with a sandbox (the reaper reads them back).
LABEL_DEPLOYMENT = "deployment"
LABEL_SCOPE = "scope"
LABEL_OWNER = "owner"  # the thread id or assistant id the sandbox belongs to
LABEL_USER = "user"  # assistant boxes: the (encoded) user the box belongs to


class SandboxScope(StrEnum):
    """Which conversation(s) share one sandbox (assistant setting `sandbox_scope`)."""

    THREAD = "thread"
    ASSISTANT = "assistant"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class NameRules:
    """What a provider accepts as a sandbox name."""

    allowed: frozenset[str] = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
    max_length: int = 63


DEFAULT_NAME_RULES = NameRules()


def encode_name(raw: str, rules: NameRules = DEFAULT_NAME_RULES) -> str:
    """Map `raw` into the provider's alphabet, deterministically and without collisions.

    Characters outside the alphabet are lower-cased when that helps, else replaced; whenever the
    text changed or is too long, a short hash of the raw name is appended so two different raw
    names never share an encoded name.
    """
    lowered = raw.lower()
    kept = "".join(char if char in rules.allowed else "-" for char in lowered).strip("-") or "sandbox"
    if kept == raw and len(kept) <= rules.max_length:
        return kept
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:10]
    return f"{kept[: rules.max_length - len(digest) - 1].rstrip('-')}-{digest}"


def sandbox_name(
    deployment: str,
    scope: SandboxScope,
    owner_id: str,
    rules: NameRules = DEFAULT_NAME_RULES,
    *,
    user: str | None = None,
) -> str:
    """The deterministic name of the sandbox of one thread, or of one user of one assistant.

    `user` is `<org>/<user>` in namespace-part encoding (`tenancy.identity.encode_part`, which
    never writes `/`), so the raw name is unambiguous and `encode_name` hashes it."""
    if scope is SandboxScope.NONE:
        raise ValueError("sandbox_scope 'none' has no sandbox")
    if not owner_id:
        raise ValueError(f"a {scope.value}-scoped sandbox needs a {scope.value} id")
    if scope is SandboxScope.ASSISTANT and not user:
        raise ValueError("an assistant-scoped sandbox belongs to one user: pass user=<org>/<user>")
    suffix = f"-user-{user}" if user else ""
    return encode_name(f"{deployment}-{scope.value}-{owner_id}{suffix}", rules)


def sandbox_labels(deployment: str, scope: SandboxScope, owner_id: str, *, user: str | None = None) -> dict[str, str]:
    """Labels stored with a sandbox: how the reaper finds its owner (raw ids, not encoded)."""
    labels = {LABEL_DEPLOYMENT: deployment, LABEL_SCOPE: scope.value, LABEL_OWNER: owner_id}
    if user:
        labels[LABEL_USER] = user
    return labels


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    """What `list` reports about one sandbox."""

    name: str
    sandbox_id: str
    labels: Mapping[str, str]
    created_at: float
    last_used_at: float | None = None  # None: the provider does not report it
    busy: bool | None = None  # None: unknown (the reaper then trusts the provider's own TTL)

    def idle_seconds(self, now: float | None = None) -> float | None:
        if self.last_used_at is None:
            return None
        return (now if now is not None else time.time()) - self.last_used_at


@dataclass(slots=True)
class Acquired:
    """The result of `get_or_create`: the sandbox, and whether this call created it."""

    sandbox: SandboxBackendProtocol
    created: bool
    # Set when a sandbox of this name existed before and was deleted or expired: why it is gone.
    replaced: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class SandboxProvider(Protocol):
    """A source of named sandboxes. Implementations raise `SandboxUnreachableError` for provider failures."""

    name_rules: NameRules

    async def get_or_create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> Acquired:
        """The sandbox called `name`, created (with `labels` and an idle TTL) if absent."""
        ...

    async def get(self, name: str) -> SandboxBackendProtocol | None:
        """The sandbox called `name`, or None when there is none."""
        ...

    async def delete(self, name: str, *, reason: str = "deleted") -> bool:
        """Delete the sandbox called `name` (`reason` is recorded where the provider can); False when absent."""
        ...

    async def list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        """Every sandbox whose labels include all of `labels`."""
        ...
