"""`connect`: a langgraph-sdk client for this service whose idle connections never race the server.

`langgraph dev` and Aegra both serve through uvicorn, which closes a keep-alive connection after 5 s
of quiet; httpx keeps an idle pooled connection for the same 5 s. A request sent on a connection the
server is closing at that instant fails with "Server disconnected without sending a response", and
langgraph-sdk retries only connection failures. Dropping idle connections well before the server
does removes the race instead of retrying around it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

SERVER_KEEP_ALIVE_SECONDS = 5.0
"""uvicorn's `timeout_keep_alive` default, which `langgraph dev` keeps (Aegra as `selfhost` starts it
keeps idle connections 75 s: `HTTP_KEEP_ALIVE_SECONDS`)."""

IDLE_CONNECTION_SECONDS = SERVER_KEEP_ALIVE_SECONDS / 2
CONNECT_RETRIES = 5
"""What langgraph-sdk's own transport retries a refused connection."""

_FROM_ENVIRONMENT: str | None = inspect.signature(get_client).parameters["api_key"].default
"""langgraph-sdk's marker for "read the key from LANGGRAPH_API_KEY and friends"."""


def connect(
    *,
    url: str,
    api_key: str | None = _FROM_ENVIRONMENT,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> LangGraphClient:
    """`langgraph_sdk.get_client(url=...)` with the same arguments and headers (the SDK builds them,
    key from the environment included), on a pool that lets idle connections go first."""
    configured = get_client(url=url, api_key=api_key, headers=headers, timeout=timeout).http.client
    transport = httpx.AsyncHTTPTransport(
        retries=CONNECT_RETRIES, limits=httpx.Limits(keepalive_expiry=IDLE_CONNECTION_SECONDS)
    )
    return LangGraphClient(
        httpx.AsyncClient(
            base_url=configured.base_url, headers=configured.headers, timeout=configured.timeout, transport=transport
        )
    )
