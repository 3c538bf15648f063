"""Every private or undocumented library part the service depends on, in one place.

The service imports private names only from here, so this list is complete by construction for
imports; parts it overrides or reads by attribute (deepagents' `StoreBackend` internals, the
server's configurable keys) are listed too. Each entry names the library, the version it was
checked against, who uses it and why, and the shape that was checked (a signature, or a fact
about the source). `tests/unit/test_private_apis.py` checks every entry against the installed
libraries and fails with the entry's name and user when one changed: re-read that part of the
library, adapt the user, then update the entry.

`compat.py` holds the work-arounds (patches applied on import); this module only names what we
lean on.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain.agents.factory import _chain_async_model_call_handlers, _chain_async_tool_call_wrappers
from langchain.agents.middleware._redaction import (
    BUILTIN_DETECTORS,
    PIIDetectionError,
    PIIMatch,
    RedactionStrategy,
    _passes_luhn,
    apply_strategy,
    detect_email,
    detect_ip,
    detect_url,
)
from langchain.agents.middleware._retry import calculate_delay
from langchain.chat_models.base import _BUILTIN_PROVIDERS
from langchain_core.tools.base import _get_runnable_config_param

__all__ = [
    "BUILTIN_DETECTORS",
    "BUILTIN_PROVIDERS",
    "PRIVATE_APIS",
    "PIIDetectionError",
    "PIIMatch",
    "PrivateAPI",
    "RedactionStrategy",
    "apply_strategy",
    "calculate_delay",
    "chain_async_model_call_handlers",
    "chain_async_tool_call_wrappers",
    "detect_email",
    "detect_ip",
    "detect_url",
    "passes_luhn",
    "runnable_config_param",
]

chain_async_model_call_handlers = _chain_async_model_call_handlers
chain_async_tool_call_wrappers = _chain_async_tool_call_wrappers
passes_luhn = _passes_luhn
runnable_config_param = _get_runnable_config_param
BUILTIN_PROVIDERS: frozenset[str] = frozenset(_BUILTIN_PROVIDERS)


@dataclass(frozen=True, slots=True)
class PrivateAPI:
    """One private part: `target` is `module:qualname`; `signature` is what `inspect.signature`
    printed when it was checked (None: only its presence is checked); `source_contains` are strings
    its module's source must still hold (for parts that cannot be imported outside a server)."""

    library: str
    checked_against: str
    target: str
    used_by: str
    signature: str | None = None
    source_contains: tuple[str, ...] = ()


_LANGCHAIN = ("langchain", "1.5.2")
_DEEPAGENTS = ("deepagents", "0.7.32")
# Aegra needs Python >= 3.12: its entries are checked against the Aegra venv's sources (make aegra-venv).
_AEGRA = ("aegra-api", "0.11.0")
_STORE = "deepagents.backends.store:StoreBackend."
_STORE_USER = "memory/store.py: provenance on every write, quotas, natively async listing"

PRIVATE_APIS: tuple[PrivateAPI, ...] = (
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.factory:_chain_async_model_call_handlers",
        "middleware_fusion.py: compose fused wrap_model_call hooks exactly as create_agent does",
        "(handlers: 'Sequence[_AsyncModelCallHandler[ContextT]]') -> '_ComposedAsyncModelCallHandler[ContextT] | None'",
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.factory:_chain_async_tool_call_wrappers",
        "middleware_fusion.py: compose fused wrap_tool_call hooks exactly as create_agent does",
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.middleware._redaction:apply_strategy",
        "guardrails/pii.py: redact / mask / hash replacements identical to langchain's PIIMiddleware",
        "(content: 'str', matches: 'list[PIIMatch]', strategy: 'RedactionStrategy') -> 'str'",
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.middleware._redaction:PIIMatch",
        "guardrails/pii_detectors.py: the match shape custom detectors return",
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.middleware._redaction:PIIDetectionError",
        "guardrails/pii.py: base of PIIBlockedError, so langchain's handling of blocks applies",
    ),
    PrivateAPI(
        *_LANGCHAIN, "langchain.agents.middleware._redaction:RedactionStrategy", "guardrails/pii.py: strategy type"
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.middleware._redaction:BUILTIN_DETECTORS",
        "bench/pii.py: langchain's own PIIMiddleware detectors, the baseline of the corpus table",
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.middleware._redaction:_passes_luhn",
        "guardrails/pii_detectors.py: card numbers must pass Luhn",
        "(card_number: 'str') -> 'bool'",
    ),
    *(
        PrivateAPI(
            *_LANGCHAIN,
            f"langchain.agents.middleware._redaction:detect_{kind}",
            "guardrails/pii_detectors.py: langchain's own detector, used as is",
            "(content: 'str') -> 'list[PIIMatch]'",
        )
        for kind in ("email", "ip", "url")
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.agents.middleware._retry:calculate_delay",
        "guardrails/retry.py: the same backoff curve as langchain's retry middleware",
        "(retry_number: 'int', *, backoff_factor: 'float', initial_delay: 'float', max_delay: 'float', "
        "jitter: 'bool') -> 'float'",
    ),
    PrivateAPI(
        *_LANGCHAIN,
        "langchain.chat_models.base:_BUILTIN_PROVIDERS",
        "settings.py: validate MODEL / FALLBACK_MODELS providers at start-up without importing them",
    ),
    PrivateAPI(
        *_DEEPAGENTS,
        _STORE + "_search_store_paginated",
        _STORE_USER,
        "(self, store: langgraph.store.base.BaseStore, namespace: tuple[str, ...], *, query: str | None = None, "
        "filter: dict[str, typing.Any] | None = None, page_size: int = 100) -> list[langgraph.store.base.Item]",
    ),
    PrivateAPI(
        *_DEEPAGENTS,
        _STORE + "_asearch_store_paginated",
        _STORE_USER,
        "(self, store: langgraph.store.base.BaseStore, namespace: tuple[str, ...], *, query: str | None = None, "
        "filter: dict[str, typing.Any] | None = None, page_size: int = 100) -> list[langgraph.store.base.Item]",
    ),
    PrivateAPI(*_DEEPAGENTS, _STORE + "_get_store", _STORE_USER, "(self) -> langgraph.store.base.BaseStore"),
    PrivateAPI(*_DEEPAGENTS, _STORE + "_get_namespace", _STORE_USER, "(self) -> tuple[str, ...]"),
    PrivateAPI(
        *_DEEPAGENTS,
        _STORE + "_convert_store_item_to_file_data",
        _STORE_USER,
        "(self, store_item: langgraph.store.base.Item) -> deepagents.backends.protocol.FileData",
    ),
    PrivateAPI(
        *_DEEPAGENTS,
        _STORE + "_convert_file_data_to_store_value",
        _STORE_USER,
        "(self, file_data: deepagents.backends.protocol.FileData) -> dict[str, typing.Any]",
    ),
    PrivateAPI(
        *_DEEPAGENTS,
        "deepagents.middleware.skills:SkillMetadata",
        "compat.py: rebuilt as a typing_extensions TypedDict on Python 3.11 (see there)",
    ),
    PrivateAPI(
        "langgraph-api",
        "0.16.7",
        "langgraph_api.store:get_store",
        "memory/server_store.py: the HTTP /store quota check and the health probe reach the server's own store",
        source_contains=("async def get_store(",),
    ),
    PrivateAPI(
        "langgraph-runtime-inmem",
        "0.36.7",
        "langgraph_runtime_inmem.ops:is_jsonb_contained",
        "compat.py: a thread search by `values` on the in-memory runtime skips threads with no state yet",
        "(superset: 'dict[str, Any]', subset: 'dict[str, Any]') -> 'bool'",
        source_contains=('and not is_jsonb_contained(thread["values"], values)',),
    ),
    PrivateAPI(
        "langgraph-runtime-inmem",
        "0.36.7",
        "langgraph_runtime_inmem.ops:Assistants.get",
        "tenancy/assistant_lookup.py: a member's run that echoes its assistant's settings (stock UIs) is no override",
        "(conn: 'InMemConnectionProto', assistant_id: 'UUID | str', ctx: 'Auth.types.BaseAuthContext | None' = None)"
        " -> 'AsyncIterator[Assistant]'",
    ),
    PrivateAPI(
        "langgraph-api",
        "0.16.7",
        "langgraph_api.worker_runtime:",
        "tenancy/identity.py: the verified user rides in configurable['langgraph_auth_user']",
        source_contains=("langgraph_auth_user",),
    ),
    PrivateAPI(
        *_AEGRA,
        "aegra_api.services.run_preparation:",
        "tenancy/handlers.py: Aegra merges a run's config over its assistant's one level deep, reading the "
        "assistant among the caller's and the system ones; the handler merges `configurable` beneath it",
        source_contains=(
            "config = _merge_jsonb(assistant.config, config)",
            'or_(AssistantORM.user_id == user.identity, AssistantORM.user_id == "system")',
            '"assistant_id": str(assistant_id),',
        ),
    ),
    PrivateAPI(
        *_AEGRA,
        "aegra_api.api.runs:",
        "tenancy/identity.py: the create_run handler's in-place `config` replaces the run's top-level keys",
        source_contains=("request.config = {**(request.config or {}), **config_overrides}",),
    ),
    PrivateAPI(
        *_AEGRA,
        "aegra_api.core.orm:",
        "tenancy/assistant_lookup.py: the stored assistant config, and the thread's assistant for state reads",
        source_contains=(
            "class Assistant(Base):",
            "class Thread(Base):",
            "config: Mapped[dict] = mapped_column(JsonbSafe",
            "user_id: Mapped[str] = mapped_column(Text, nullable=False)",
            'metadata_json: Mapped[dict] = mapped_column("metadata_json", JsonbSafe',
        ),
    ),
    PrivateAPI(
        *_AEGRA,
        "aegra_api.settings:",
        "tenancy/assistant_lookup.py: the database URL its own engine opens (Aegra's pool is never shared)",
        source_contains=("def database_url(self) -> str:", "settings = Settings()"),
    ),
    PrivateAPI(
        *_AEGRA,
        "aegra_api.api.store:apply_namespace_scoping",
        "tenancy/aegra_store.py: the HTTP store routes call it by its module global to scope each namespace",
        source_contains=(
            "def apply_namespace_scoping(",
            "scoped_namespace = apply_namespace_scoping(request.namespace, user)",
            "scoped_prefix = apply_namespace_scoping(request.namespace_prefix, user)",
            "scoped_prefix = apply_namespace_scoping(request.prefix or [], user)",
            'request.prefix = filters["prefix"]',
            'request.value = filters["value"]',
        ),
    ),
    PrivateAPI(
        *_AEGRA,
        "aegra_api.api.threads:",
        "agent.py: state reads call the graph factory with the thread id alone (no assistant config)",
        source_contains=("config: dict[str, Any] = create_thread_config(thread_id, user)",),
    ),
    PrivateAPI(
        "langchain-core",
        "1.8.3",
        "langchain_core.tools.base:_get_runnable_config_param",
        "guardrails/tool_output.py: a guarded tool copy passes the run config on the way the original declares it",
        "(func: 'Callable[..., Any]') -> 'str | None'",
    ),
    PrivateAPI(
        "langgraph-checkpoint-postgres",
        "3.2.0",
        "langgraph.store.postgres.aio:AsyncPostgresStore._cursor",
        "guardrails/budget_counters.py: one atomic SQL statement per budget reservation, on the store's connection",
        "(self, *, pipeline: 'bool' = False) -> 'AsyncIterator[AsyncCursor[DictRow]]'",
    ),
    PrivateAPI(
        "langgraph-checkpoint-postgres",
        "3.2.0",
        "langgraph.store.postgres.base:",
        "guardrails/budget_counters.py: the `store` table (prefix, key, value jsonb) and '.'-joined namespaces",
        source_contains=(
            "CREATE TABLE IF NOT EXISTS store (",
            "prefix text NOT NULL",
            "ON CONFLICT (prefix, key) DO UPDATE",
            'return ".".join(namespace)',
        ),
    ),
    PrivateAPI(
        "langsmith",
        "0.15.1",
        "langsmith:set_runtime_overrides",
        "compat.py: untraced bookkeeping runs inline instead of in a worker thread (see there)",
        "(aio_to_thread: 'Optional[AioToThread]' = None) -> 'None'",
    ),
)
