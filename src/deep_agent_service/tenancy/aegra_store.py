"""On Aegra, the HTTP `/store` addresses the namespaces the agent's memory lives in, as on langgraph-api.

Aegra 0.11 buries every namespace of its HTTP store routes under `("users", <caller>)`
(`aegra_api.api.store.apply_namespace_scoping`), its own per-user isolation. The service's memory
namespaces start with the org (`identity.namespace_for`), and the agent reads them from the store
directly, so over HTTP on Aegra an admin's org policy or assistant memory never reached a run, the
runbook's budget reset reset nothing, and a user never saw what the agent wrote for them. The
service's store handler (`handlers.store_access`: own namespaces, read-only shared scopes, the org
boundary) is the isolation on both servers, tested route by route on both
(`tests/integration/test_store_http_namespaces.py`); with it installed Aegra's scoping is replaced
by the identity. Items Aegra stored earlier under `("users", ...)` stay there, unreached by the agent
as before.
"""

from __future__ import annotations

from typing import Any

from deep_agent_service.errors import ConfigurationError


def _as_requested(namespace: list[str], user: Any, **_: Any) -> list[str]:
    return list(namespace)


def address_service_namespaces() -> None:
    """Make this Aegra process's HTTP store use the namespaces as requested (and authorized)."""
    from aegra_api.api import store  # type: ignore[import-not-found, unused-ignore]

    if not hasattr(store, "apply_namespace_scoping"):
        raise ConfigurationError(
            "aegra_api.api.store.apply_namespace_scoping is gone: this Aegra version is not the one "
            "tenancy/aegra_store.py was written for (private_apis.py); pin aegra-api==0.11.0"
        )
    store.apply_namespace_scoping = _as_requested
