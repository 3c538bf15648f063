"""Authentication (who is calling) and authorization (what they may touch) for the LangGraph server.

Every resource carries the tenant it belongs to: threads and crons are stamped with `owner` and
`org` metadata on create and filtered by both afterwards (user ids are only unique within an org);
assistants belong to an org (members read, admins write), plus the graph's own system assistants,
which every org may read and nobody may change. Store requests are checked against the namespace
shapes of `identity.namespace_for`. Anything without a handler below is denied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth

from deep_agent_service.assistant_settings import (
    ASSISTANT_SETTINGS_KEY,
    AssistantSettingsError,
    assistant_settings_from,
)
from deep_agent_service.guardrails.config import resolve_config
from deep_agent_service.guardrails.pii import PIIBlockedError, PIIFilter
from deep_agent_service.guardrails.state_writes import filter_run_payload
from deep_agent_service.memory.server_store import server_store
from deep_agent_service.memory.writes import MemoryQuotaError, check_quota, stamp, stamped, value_size
from deep_agent_service.settings import Settings, get_settings
from deep_agent_service.tenancy.assistant_lookup import (
    NOT_FOUND,
    aegra_stored_configurable,
    settings_in,
    stored_assistant_settings,
)
from deep_agent_service.tenancy.credentials import Authenticator, Principal, build_authenticator, principal_dict
from deep_agent_service.tenancy.identity import (
    RunIdentity,
    Scope,
    canonical_assistant_id,
    encode_part,
    identity_from_user,
    stamp_run_assistant,
)

# Identity keys a client might put into a run's config or context to act as someone else.
SPOOFABLE_KEYS = frozenset({"user_id", "user", "org_id", "org", "owner", "role", "identity"})
# The server's own keys for who a run acts for (`langgraph_auth_user`, `_user_id`, `_permissions`):
# langgraph-api's cron scheduler runs a cron as the `langgraph_auth_user` its stored payload holds.
SERVER_AUTH_PREFIX = "langgraph_auth"
SYSTEM_ASSISTANT = {"created_by": "system"}


def forbidden(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=403, detail=detail)


def caller(ctx: Auth.types.AuthContext) -> RunIdentity:
    return identity_from_user(ctx.user)


def _owned(who: RunIdentity) -> dict[str, str]:
    return {"owner": who.user, "org": who.org}


def _metadata(value: Any) -> dict[str, Any]:
    """The request's metadata dict, to be changed IN PLACE: the server keeps its own reference to it."""
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        value["metadata"] = metadata
    return metadata


def _stamp(value: Any, who: RunIdentity) -> None:
    """Overwrite whatever owner/org a client put into the metadata with the verified ones."""
    _metadata(value).update(_owned(who))


def _reject_spoofing(
    payload: Mapping[str, Any], who: RunIdentity, *, allow_settings: bool, stored_settings: Any = NOT_FOUND
) -> None:
    """Refuse identity keys (and, for members, assistant settings) in a run's config or context.

    `stored_settings` are the run's assistant's own settings: a member's run config that only
    repeats them (stock UIs send the assistant's config back with every run) overrides nothing.
    """
    config = payload.get("config") or {}
    sections = {
        "config.configurable": config.get("configurable") or {},
        "context": payload.get("context") or {},
    }
    for where, section in sections.items():
        if not isinstance(section, Mapping):
            continue
        spoofed = sorted(SPOOFABLE_KEYS & section.keys())
        if spoofed:
            raise forbidden(f"{where} must not carry identity keys {spoofed}: who you are comes from your credentials")
        if ASSISTANT_SETTINGS_KEY not in section:
            continue
        echo = section[ASSISTANT_SETTINGS_KEY] == stored_settings
        if not ((allow_settings and who.is_admin) or echo):
            raise forbidden(
                f"{where}.{ASSISTANT_SETTINGS_KEY} belongs to the assistant: ask an admin to update the "
                "assistant instead of overriding it per run"
            )
        _check_settings(section, where)


def _check_settings(section: Mapping[str, Any], where: str) -> None:
    """Refuse invalid assistant settings when they are written (422 naming the key), not on the next run."""
    try:
        assistant_settings_from(section)
    except AssistantSettingsError as error:
        raise Auth.exceptions.HTTPException(status_code=422, detail=f"{where}: {error}") from None


SHARED_SCOPES = (Scope.ASSISTANT, Scope.ORG, Scope.SKILLS)
# Where the user's own id sits in the namespaces of their own scopes.
OWN_SCOPES = {Scope.PRIVATE: 3, Scope.USER: 2}


def check_namespace(who: RunIdentity, namespace: tuple[str, ...], *, write: bool, prefix: bool = False) -> None:
    """Allow a store request on one namespace (or, with `prefix`, a search under it), or raise 403.

    Members read and write their own private and user namespaces and read the org's assistant, org
    and skills namespaces; a search prefix must not cover other users' namespaces. Admins may read
    and write anything under their own org (memory operations: export, delete). Nobody reaches
    another org.
    """
    if not namespace or namespace[0] != encode_part(who.org):
        raise forbidden("store namespaces and search prefixes start with your organization")
    if who.is_admin:
        return
    scope = namespace[1] if len(namespace) > 1 else None
    if scope in SHARED_SCOPES:
        if write:
            raise forbidden(f"the {scope} memory is read-only for members; an admin can change it")
        return
    user_at = OWN_SCOPES.get(Scope(scope)) if scope in OWN_SCOPES else None
    if user_at is not None:
        fits = len(namespace) > user_at if prefix else len(namespace) == user_at + 1
        if fits and namespace[user_at] == encode_part(who.user):
            return
    raise forbidden(
        "members may use only their own memory namespaces, e.g. "
        f"('{namespace[0]}', 'user', '{encode_part(who.user)}') or "
        f"('{namespace[0]}', 'private', '<assistant>', '{encode_part(who.user)}')"
    )


async def deny_by_default(ctx: Auth.types.AuthContext, value: Any) -> bool:
    raise forbidden(f"{ctx.resource}.{ctx.action} is not allowed")


async def create_thread(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Stamp the new thread AND return the owner filter: the server applies it to a row that already
    has the id (`if_exists`, `supersteps`), so a create never hands over or writes into someone
    else's thread; such a create answers 409, as for any taken id."""
    who = caller(ctx)
    _stamp(value, who)
    return _owned(who)


async def _settings_to_compare(payload: Mapping[str, Any], assistant_id: Any, who: RunIdentity) -> Any:
    """The assistant's stored settings, looked up only when a member's run config carries some."""
    sections = ((payload.get("config") or {}).get("configurable") or {}, payload.get("context") or {})
    carried = any(isinstance(section, Mapping) and ASSISTANT_SETTINGS_KEY in section for section in sections)
    if who.is_admin or not carried:
        return NOT_FOUND
    return await stored_assistant_settings(str(assistant_id)) if assistant_id else NOT_FOUND


def _filter_input(pii: PIIFilter, payload: dict[str, Any]) -> None:
    """A run's (or cron's) input and command filtered in place; a `block` type is a 422."""
    try:
        # Input and command (update, resume) replaced in place: the first checkpoint and the first
        # `values` event never hold the raw text.
        filter_run_payload(pii, payload)
    except PIIBlockedError as blocked:
        raise Auth.exceptions.HTTPException(status_code=422, detail=str(blocked)) from None


def run_creator(pii: PIIFilter) -> Any:  # the SDK types handlers per action; this one serves both servers
    """The `threads.create_run` handler; `pii` filters the run's input before anything stores it."""

    def filter_input(payload: dict[str, Any]) -> None:
        _filter_input(pii, payload)

    async def create_run(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str] | None:
        who = caller(ctx)
        if "kwargs" in value:  # langgraph-api: the filter keeps the run on the caller's own threads
            kwargs = value["kwargs"] or {}
            stored = await _settings_to_compare(kwargs, value.get("assistant_id"), who)
            _reject_spoofing(kwargs, who, allow_settings=True, stored_settings=stored)
            filter_input(value["kwargs"])
            # A stateless run (and `if_not_exists="create"`) makes its thread from the run's metadata:
            # stamped, that thread is the caller's, so the caller can join its stream (e.g. via /mcp).
            _stamp(value, who)
            return _owned(who)
        # Aegra passes config/context at the top level, scopes runs to the user itself, and would take
        # a returned dict as the config overrides: stamp the assistant id in place and return nothing.
        # It merges the run's config over the assistant's one level deep only, so the assistant's own
        # `configurable` (its settings) goes beneath the run's here, as langgraph-api merges it.
        requested = value.get("assistant_id")
        stored = (
            await aegra_stored_configurable(canonical_assistant_id(str(requested)), who.user) if requested else None
        )
        _reject_spoofing(value, who, allow_settings=True, stored_settings=settings_in(stored))
        filter_input(value)
        stamp_run_assistant(value, stored)
        return None

    return create_run


async def own_resources(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Threads and crons: filter by owner and org; updates cannot re-assign them."""
    who = caller(ctx)
    if ctx.action == "update" and isinstance(value, dict) and value.get("metadata"):
        _stamp(value, who)
    return _owned(who)


def _reject_server_auth_keys(payload: Mapping[str, Any]) -> None:
    """Refuse the server's own `langgraph_auth_*` keys in a cron's config or context.

    Only for crons: in a run's config langgraph-api has put its own there before the handler runs
    (and overwrites any a client sent); in a cron's payload nothing overwrites them.
    """
    config = payload.get("config") or {}
    for where, section in (("config.configurable", config.get("configurable")), ("context", payload.get("context"))):
        if isinstance(section, Mapping) and (
            keys := sorted(k for k in section if str(k).startswith(SERVER_AUTH_PREFIX))
        ):
            raise forbidden(f"{where} must not carry the server's keys {keys}: a cron runs as the user who made it")


def _check_cron_payload(value: dict[str, Any], who: RunIdentity, pii: PIIFilter, *, creating: bool) -> None:
    """A cron's payload: no identity keys from the client, its input filtered, and on langgraph-api
    the verified caller.

    The payload is kept in the server's database and is the input of every firing, so its input is
    filtered before it is stored, as a run's is. Aegra hands the handler a copy of the request (what
    the handler changes is not what Aegra stores): there a cron whose input would change is refused,
    and Aegra fires crons as their owner itself.

    langgraph-api's cron scheduler runs each firing as the `langgraph_auth_user` stored in the
    payload's `config.configurable` (else as a bare user id, which carries no org: every firing was
    refused). So the handler puts the verified caller there, over nothing a client could set
    (`_reject_server_auth_keys` refuses `langgraph_auth_*` keys first). An update merges the payload
    one level deep, so a new `config` is stamped too.
    """
    on_langgraph_api = "payload" in value
    payload = value.get("payload") if on_langgraph_api else value
    if not isinstance(payload, dict):
        return
    _reject_spoofing(payload, who, allow_settings=True)
    _reject_server_auth_keys(payload)
    if on_langgraph_api:
        _filter_input(pii, payload)
    else:
        filtered = copy.deepcopy(payload)
        _filter_input(pii, filtered)
        if filtered != payload:
            raise Auth.exceptions.HTTPException(
                status_code=422,
                detail="the cron's input holds personal data (PII) that this server (Aegra) would store "
                "as sent: remove it from the input, or create the cron on langgraph-api, which stores it filtered",
            )
    if not on_langgraph_api or not (creating or "config" in payload):
        return
    config = payload.get("config")
    if config is None:
        config = payload["config"] = {}
    if isinstance(config, dict):
        configurable = config.get("configurable")
        if not isinstance(configurable, dict):
            configurable = config["configurable"] = {}
        configurable["langgraph_auth_user"] = principal_dict(Principal(user=who.user, org=who.org, role=who.role))


def cron_handlers(pii: PIIFilter) -> tuple[Any, Any]:
    """The `crons.create` and `crons.update` handlers (see `_check_cron_payload`)."""

    async def create_cron(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
        who = caller(ctx)
        _check_cron_payload(value, who, pii, creating=True)
        _stamp(value, who)
        return _owned(who)

    async def update_cron(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
        who = caller(ctx)
        if isinstance(value, dict):
            _check_cron_payload(value, who, pii, creating=False)
            if value.get("metadata"):
                _stamp(value, who)
        return _owned(who)

    return create_cron, update_cron


def _claim_assistant(value: Any, who: RunIdentity) -> None:
    if not who.is_admin:
        raise forbidden("only admins create or change assistants")
    _reject_spoofing(value, who, allow_settings=True)
    metadata = _metadata(value)
    metadata.pop("created_by", None)  # nobody may pass an assistant off as a system one
    metadata["org"] = who.org


async def create_assistant(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Like threads: the org filter keeps `if_exists` from answering with another org's assistant."""
    who = caller(ctx)
    _claim_assistant(value, who)
    return {"org": who.org}


async def change_assistant(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    who = caller(ctx)
    if ctx.action == "update":
        _claim_assistant(value, who)
    elif not who.is_admin:
        raise forbidden("only admins delete assistants")
    return {"org": who.org}


async def visible_assistants(ctx: Auth.types.AuthContext, value: Any) -> dict[str, Any]:
    return {"$or": [{"org": caller(ctx).org}, SYSTEM_ASSISTANT]}


async def keep_write_rules(who: RunIdentity, namespace: tuple[str, ...], request: dict[str, Any]) -> None:
    """An HTTP `/store` put keeps the rules of every memory write: the value is stamped with the
    verified caller (a client's own `written_by` is replaced; admins are stamped too), and the size
    and file-count quotas answer 413 / 409 naming the limit. The handler changes the request in
    place: the server stores `request["value"]` after this returns."""
    item = request.get("value")
    if not isinstance(item, Mapping):
        return  # the server refuses a non-object value itself
    request["value"] = stamped(item, stamp(who.user, who.org, None, via="http"))
    store = await server_store()
    key = str(request.get("key"))
    try:
        creating = await store.aget(namespace, key) is None
        await check_quota(store, namespace, key, value_size(item), creating=creating)
    except MemoryQuotaError as error:
        raise Auth.exceptions.HTTPException(status_code=error.http_status, detail=str(error)) from None


# Where each server puts the requested namespace in the handler's `value`: langgraph-api under
# `namespace` for every action; Aegra passes its request model (`namespace_prefix` for a search,
# `prefix` for a namespace listing).
_NAMESPACE_KEYS = ("namespace", "namespace_prefix", "prefix")


async def store_access(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any] | None:
    """Authorize one HTTP `/store` request, and hand its changes over the way each server takes them.

    langgraph-api stores what the handler changed in `value`; Aegra applies the fields the handler
    returns (and ignores changes in place). langgraph-api ignores a returned dict for these actions
    (only a search's is a filter, and a search returns none).
    """
    who = caller(ctx)
    namespace = tuple(next((value[key] for key in _NAMESPACE_KEYS if value.get(key)), ()))
    match ctx.action:
        case "put":
            check_namespace(who, namespace, write=True)
            await keep_write_rules(who, namespace, value)
            return {"value": value["value"]}
        case "delete":
            check_namespace(who, namespace, write=True)
        case "get":
            check_namespace(who, namespace, write=False)
        case "list_namespaces" if not namespace and who.is_admin:
            value["namespace"] = (encode_part(who.org),)  # an admin's listing is their org
            return {"prefix": list(value["namespace"])}
        case "search" | "list_namespaces":
            check_namespace(who, namespace, write=False, prefix=True)
        case _:
            raise forbidden(f"store.{ctx.action} is not allowed")
    return None


def build_auth(settings: Settings | None = None) -> Auth:
    """The server's `Auth` object for the configured mode (misconfiguration fails here, at start-up)."""
    settings = settings or get_settings()
    authenticator: Authenticator = build_authenticator(settings)
    auth = Auth()

    @auth.authenticate
    async def authenticate(headers: Mapping[Any, Any]) -> Auth.types.MinimalUserDict:
        # One signature for both servers: langgraph-api injects `headers` (bytes) by name; Aegra
        # passes one positional dict of str.
        return principal_dict(await authenticator(headers))  # type: ignore[return-value]

    auth.on(deny_by_default)
    auth.on.threads.create(create_thread)
    # The deployment-wide PII rules (per-assistant ones apply inside the graph).
    pii = PIIFilter(resolve_config(settings).pii)
    auth.on.threads.create_run(run_creator(pii))
    auth.on(resources="threads", actions=["read", "update", "delete", "search"])(own_resources)
    create_cron, update_cron = cron_handlers(pii)
    auth.on.crons.create(create_cron)
    auth.on.crons.update(update_cron)
    auth.on(resources="crons", actions=["read", "delete", "search"])(own_resources)
    auth.on.assistants.create(create_assistant)
    auth.on(resources="assistants", actions=["update", "delete"])(change_assistant)
    auth.on(resources="assistants", actions=["read", "search"])(visible_assistants)
    auth.on.store()(store_access)
    return auth
