"""LangSmith sandboxes (`SANDBOX_PROVIDER=langsmith`, extra `sandbox-langsmith`): a thin adapter.

Boxes are looked up by name (`AsyncSandboxClient.get_sandbox`), created with the service's labels
and `idle_ttl_seconds` (LangSmith stops idle boxes itself), and driven through deepagents'
`LangSmithSandbox`. Credentials: `LANGSMITH_API_KEY`, or `LANGCHAIN_API_KEY` (the key LangSmith
Deployments give a deployment), both read by the SDK. Not exercised live here.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping
from typing import Any

from deepagents.backends import LangSmithSandbox
from deepagents.backends.protocol import SandboxBackendProtocol
from langsmith import sandbox as ls
from langsmith.utils import get_env_var

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes.cloud import CloudProvider
from deep_agent_service.sandboxes.provider import SandboxInfo
from deep_agent_service.settings import LANGSMITH_DEPLOYMENT_VARIABLE, Settings


def create_params(
    name: str, labels: Mapping[str, str], ttl_seconds: int, *, snapshot: str | None = None
) -> dict[str, Any]:
    """Keyword arguments of `AsyncSandboxClient.create_sandbox` for one of our sandboxes."""
    params: dict[str, Any] = {"name": name, "labels": dict(labels), "idle_ttl_seconds": ttl_seconds}
    if snapshot:
        params["snapshot_name"] = snapshot
    return params


def _timestamp(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class LangSmithProvider(CloudProvider):
    service = "LangSmith"

    def __init__(self, client: ls.AsyncSandboxClient, *, snapshot: str | None = None) -> None:
        self.client = client
        self.snapshot = snapshot

    @classmethod
    def not_found_errors(cls) -> tuple[type[BaseException], ...]:
        return (ls.ResourceNotFoundError,)

    async def _find(self, name: str) -> SandboxBackendProtocol | None:
        box = await self.client.get_sandbox(name)
        return LangSmithSandbox(await asyncio.to_thread(box.to_sync))

    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None:
        await self.client.create_sandbox(**create_params(name, labels, ttl_seconds, snapshot=self.snapshot))

    async def _remove(self, name: str) -> bool:
        await self.client.delete_sandbox(name)
        return True

    async def _boxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        return [
            SandboxInfo(
                name=box.name,
                sandbox_id=box.id or box.name,
                labels=dict(box.labels or {}),
                created_at=_timestamp(box.created_at),
            )
            for box in await self.client.list_sandboxes()
        ]


def provider_from_settings(settings: Settings, *, network: bool) -> LangSmithProvider:
    # Without a key the SDK builds a client anyway and every box fails later, on a user's run.
    if not get_env_var("API_KEY"):  # LANGSMITH_API_KEY, or LANGCHAIN_API_KEY (what LangSmith Deployments set)
        detected = (
            f" (the default on LangSmith Deployments, detected from {LANGSMITH_DEPLOYMENT_VARIABLE}; "
            "set SANDBOX_PROVIDER to choose another provider)"
            if settings.sandbox.provider_detected
            else ""
        )
        raise ConfigurationError(
            f"invalid configuration: SANDBOX_PROVIDER=langsmith{detected} needs LANGSMITH_API_KEY "
            "(or LANGCHAIN_API_KEY): set it as a secret of the deployment"
        )
    # Network policy is the snapshot's (proxy_config); `network` is not mapped here.
    return LangSmithProvider(ls.AsyncSandboxClient(), snapshot=settings.sandbox.template)
