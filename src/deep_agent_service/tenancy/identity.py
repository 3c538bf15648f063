"""Who a run acts for, taken from verified auth data only, and the one map from scopes to namespaces.

Identity strings (user ids such as `auth0|42`, e-mail addresses, org names) are encoded into
namespace parts that both `StoreBackend` (`[A-Za-z0-9-_.@+:~]+`) and the server's HTTP store API
(no `.`) accept. The encoding is reversible and collision-free: every character outside the safe
set, and the escape character `~` itself, becomes `~XX` per UTF-8 byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from deep_agent_service.errors import ServiceError

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_@+:")
_ESCAPE = "~"
_HEX = frozenset("0123456789ABCDEF")

Role = Literal["member", "admin"]

# langgraph-api and Aegra both name a graph's default assistant uuid5(this, graph_id).
GRAPH_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


class IdentityError(ServiceError, PermissionError):
    """The run has no verified identity, or the identity is unusable."""


class Scope(StrEnum):
    """Memory scopes; each maps to one namespace shape (see `namespace_for`)."""

    PRIVATE = "private"
    USER = "user"
    ASSISTANT = "assistant"
    ORG = "org"
    SKILLS = "skills"


def encode_part(value: str) -> str:
    """Encode an identity string as one namespace part (non-empty, safe characters only)."""
    if not value:
        raise IdentityError("identity parts must be non-empty strings")
    out: list[str] = []
    for char in value:
        if char in _SAFE:
            out.append(char)
        else:
            out.extend(f"{_ESCAPE}{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def decode_part(part: str) -> str:
    """Invert `encode_part`; raise `ValueError` for text `encode_part` cannot produce."""
    raw = bytearray()
    index = 0
    while index < len(part):
        char = part[index]
        if char == _ESCAPE:
            hex_digits = part[index + 1 : index + 3]
            if len(hex_digits) != 2 or not set(hex_digits) <= _HEX:
                raise ValueError(f"malformed escape at {index} in namespace part {part!r}")
            raw.append(int(hex_digits, 16))
            index += 3
        elif char in _SAFE:
            raw.extend(char.encode("ascii"))
            index += 1
        else:
            raise ValueError(f"character {char!r} cannot appear in an encoded namespace part")
    if not raw:
        raise ValueError("an encoded namespace part is never empty")
    return raw.decode("utf-8")


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """The verified caller of a run plus the assistant and thread it runs on."""

    org: str
    user: str
    role: Role = "member"
    assistant_id: str | None = None
    thread_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_assistant(self) -> str:
        if not self.assistant_id:
            raise IdentityError(
                "the run carries no assistant_id; assistant-scoped memory needs one "
                "(run through an assistant or graph id, not a bare graph)"
            )
        return self.assistant_id


def namespace_for(scope: Scope, identity: RunIdentity) -> tuple[str, ...]:
    """The one function that maps a memory scope to a store namespace. Every namespace starts with the org."""
    org = encode_part(identity.org)
    match scope:
        case Scope.PRIVATE:
            return (org, scope.value, encode_part(identity.require_assistant()), encode_part(identity.user))
        case Scope.USER:
            return (org, scope.value, encode_part(identity.user))
        case Scope.ASSISTANT | Scope.SKILLS:
            return (org, scope.value, encode_part(identity.require_assistant()))
        case Scope.ORG:
            return (org, scope.value)


def _claim(user: Any, key: str) -> Any:
    """Read an extra claim from a user object that may be a mapping, a BaseUser proxy or a plain object."""
    if isinstance(user, Mapping):
        return user.get(key)
    value = getattr(user, key, None)
    if value is not None:
        return value
    try:
        return user[key]
    except (KeyError, TypeError, IndexError):
        return None


def identity_from_user(user: Any, *, assistant_id: str | None = None, thread_id: str | None = None) -> RunIdentity:
    """Build a `RunIdentity` from the verified auth user (as langgraph-api passes it to graphs)."""
    if user is None:
        raise IdentityError("no authenticated user: the server's auth handler did not run for this request")
    user_id = _claim(user, "identity")
    org = _claim(user, "org")
    if not isinstance(user_id, str) or not user_id:
        raise IdentityError("the authenticated user has no identity")
    if not isinstance(org, str) or not org:
        raise IdentityError(f"the authenticated user {user_id!r} has no org claim")
    role = _claim(user, "role")
    return RunIdentity(
        org=org,
        user=user_id,
        role="admin" if role == "admin" else "member",
        assistant_id=assistant_id or None,
        thread_id=thread_id or None,
    )


def _current_configurable() -> Mapping[str, Any]:
    from langgraph.config import get_config

    try:
        return get_config().get("configurable", {})
    except RuntimeError:
        return {}


def resolve_identity(user: Any, *, assistant_id: str | None, thread_id: str | None) -> RunIdentity:
    """Identity from the verified user; in `local` auth mode a missing user is the configured local user."""
    from deep_agent_service.settings import get_settings

    if user is None:
        settings = get_settings()
        if settings.auth.mode != "local":
            raise IdentityError("no authenticated user for this run; refusing to guess whose data to use")
        user = {"identity": settings.auth.local_user, "org": settings.auth.local_org, "role": "admin"}
    return identity_from_user(user, assistant_id=assistant_id, thread_id=thread_id)


def identity_from_runtime(runtime: Any) -> RunIdentity:
    """The identity of the run executing now, from the server's verified user and ids.

    `runtime` is LangGraph's `Runtime` (what `StoreBackend` namespace factories receive). The user
    comes from `server_info.user` or the server-set `langgraph_auth_user` (a reserved key clients
    cannot set); client-supplied keys such as `configurable.user_id` are never read.
    """
    server_info = getattr(runtime, "server_info", None)
    execution_info = getattr(runtime, "execution_info", None)
    configurable = _current_configurable()
    return resolve_identity(
        getattr(server_info, "user", None) or configurable.get("langgraph_auth_user"),
        assistant_id=getattr(server_info, "assistant_id", None) or configurable.get("assistant_id"),
        thread_id=getattr(execution_info, "thread_id", None) or configurable.get("thread_id"),
    )


def canonical_assistant_id(requested: str) -> str:
    """The assistant id a server runs under: a UUID as given, a graph id as its default assistant's UUID."""
    try:
        return str(uuid.UUID(requested))
    except ValueError:
        return str(uuid.uuid5(GRAPH_ASSISTANT_NAMESPACE, requested))


def stamp_run_assistant(value: MutableMapping[str, Any], stored_configurable: Mapping[str, Any] | None = None) -> None:
    """Put the run's assistant id into its config, server-side, where the server does not.

    For the `threads.create_run` auth handler. langgraph-api sets `configurable.assistant_id`
    itself (its handler value carries `kwargs`); Aegra 0.11 does not, but merges the handler's
    `config` into the run, overriding whatever the client sent, so the id read by
    `identity_from_runtime` is the one the run was authorized for on both servers.

    Aegra then merges the run's config over its assistant's one level deep only: the run's
    `configurable` would replace the assistant's. `stored_configurable` (the assistant's own) goes
    beneath the run's keys, so the run gets what langgraph-api gives it: the assistant's settings,
    the run's own keys over them, then the stamped id.
    """
    requested = value.get("assistant_id")
    if "kwargs" in value or not requested:
        return
    config = dict(value.get("config") or {})
    assistant_id = canonical_assistant_id(str(requested))
    own = config.get("configurable") or {}
    config["configurable"] = {**(stored_configurable or {}), **own, "assistant_id": assistant_id}
    value["config"] = config
