"""Daytona (`SANDBOX_PROVIDER=daytona`, extra `sandbox-daytona`): a thin adapter over `langchain-daytona`.

Names and labels map to Daytona's; the idle TTL becomes `auto_stop_interval` (minutes) and a
stopped box is deleted after the same interval. Credentials: `DAYTONA_API_KEY` (read by the SDK).
The SDK is synchronous here, so calls run in worker threads. Not exercised live here.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service.sandboxes.cloud import CloudProvider
from deep_agent_service.sandboxes.provider import SandboxInfo
from deep_agent_service.settings import Settings


def create_params(
    name: str, labels: Mapping[str, str], ttl_seconds: int, *, snapshot: str | None = None, network: bool = False
) -> dict[str, Any]:
    """Fields of `daytona.CreateSandboxFromSnapshotParams` for one of our sandboxes."""
    minutes = max(1, math.ceil(ttl_seconds / 60))
    params: dict[str, Any] = {
        "name": name,
        "labels": dict(labels),
        "auto_stop_interval": minutes,
        "auto_delete_interval": minutes,
        "network_block_all": not network,
    }
    if snapshot:
        params["snapshot"] = snapshot
    return params


class DaytonaProvider(CloudProvider):
    service = "Daytona"

    def __init__(self, client: Any, *, snapshot: str | None = None, network: bool = False) -> None:
        self.client = client  # daytona.Daytona
        self.snapshot = snapshot
        self.network = network

    @classmethod
    def not_found_errors(cls) -> tuple[type[BaseException], ...]:
        import daytona

        return (daytona.DaytonaNotFoundError, daytona.DaytonaGoneError)

    async def _find(self, name: str) -> SandboxBackendProtocol | None:
        from langchain_daytona import DaytonaSandbox

        sandbox: SandboxBackendProtocol = DaytonaSandbox(sandbox=await asyncio.to_thread(self.client.get, name))
        return sandbox

    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None:
        import daytona

        params = daytona.CreateSandboxFromSnapshotParams(
            **create_params(name, labels, ttl_seconds, snapshot=self.snapshot, network=self.network)
        )
        await asyncio.to_thread(self.client.create, params)

    async def _remove(self, name: str) -> bool:
        await asyncio.to_thread(self.client.delete, await asyncio.to_thread(self.client.get, name))
        return True

    async def _boxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        boxes = await asyncio.to_thread(lambda: list(self.client.list()))
        return [
            SandboxInfo(name=box.name, sandbox_id=box.id, labels=dict(box.labels or {}), created_at=0.0)
            for box in boxes
        ]


def provider_from_settings(settings: Settings, *, network: bool) -> DaytonaProvider:
    import daytona

    return DaytonaProvider(daytona.Daytona(), snapshot=settings.sandbox.template, network=network)
