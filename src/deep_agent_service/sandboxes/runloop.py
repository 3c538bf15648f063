"""Runloop (`SANDBOX_PROVIDER=runloop`, extra `sandbox-runloop`): a thin adapter over `langchain-runloop`.

A devbox carries our name, our labels as metadata, and shuts down after the idle TTL. Runloop
names are not unique, so creation passes the name as the idempotency key (two racing creates get
one devbox) and lookup lists running devboxes by name. Credentials: `RUNLOOP_API_KEY`.
The SDK is synchronous here, so calls run in worker threads. Not exercised live here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service.sandboxes.cloud import CloudProvider
from deep_agent_service.sandboxes.provider import SandboxInfo
from deep_agent_service.settings import Settings


def create_params(
    name: str, labels: Mapping[str, str], ttl_seconds: int, *, blueprint: str | None = None
) -> dict[str, Any]:
    """Keyword arguments of `devboxes.create` for one of our sandboxes."""
    params: dict[str, Any] = {
        "name": name,
        "metadata": dict(labels),
        "launch_parameters": {"after_idle": {"idle_time_seconds": ttl_seconds, "on_idle": "shutdown"}},
        "idempotency_key": name,
    }
    if blueprint:
        params["blueprint_name"] = blueprint
    return params


class RunloopProvider(CloudProvider):
    service = "Runloop"

    def __init__(self, sdk: Any, *, blueprint: str | None = None) -> None:
        self.sdk = sdk  # runloop_api_client.RunloopSDK
        self.blueprint = blueprint

    @classmethod
    def not_found_errors(cls) -> tuple[type[BaseException], ...]:
        from runloop_api_client import NotFoundError

        return (NotFoundError,)

    async def _running(self) -> list[Any]:
        return await asyncio.to_thread(lambda: list(self.sdk.api.devboxes.list(status="running")))

    async def _named(self, name: str) -> list[Any]:
        return [view for view in await self._running() if view.name == name]

    async def _find(self, name: str) -> SandboxBackendProtocol | None:
        from langchain_runloop import RunloopSandbox

        views = await self._named(name)
        if not views:
            return None
        devbox = await asyncio.to_thread(self.sdk.devbox.from_id, views[0].id)
        sandbox: SandboxBackendProtocol = RunloopSandbox(devbox=devbox)
        return sandbox

    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None:
        params = create_params(name, labels, ttl_seconds, blueprint=self.blueprint)
        await asyncio.to_thread(lambda: self.sdk.api.devboxes.create_and_await_running(**params))

    async def _remove(self, name: str) -> bool:
        views = await self._named(name)
        for view in views:
            await asyncio.to_thread(self.sdk.api.devboxes.shutdown, view.id)
        return bool(views)

    async def _boxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        return [
            SandboxInfo(
                name=view.name or view.id,
                sandbox_id=view.id,
                labels=dict(view.metadata or {}),
                created_at=(view.create_time_ms or 0) / 1000,
            )
            for view in await self._running()
        ]


def provider_from_settings(settings: Settings, *, network: bool) -> RunloopProvider:
    from runloop_api_client import RunloopSDK

    return RunloopProvider(
        RunloopSDK(bearer_token=os.environ.get("RUNLOOP_API_KEY")), blueprint=settings.sandbox.template
    )
