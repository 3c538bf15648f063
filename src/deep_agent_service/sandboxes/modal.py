"""Modal (`SANDBOX_PROVIDER=modal`, extra `sandbox-modal`): a thin adapter over `langchain-modal`.

Sandboxes are named within one Modal app (the deployment name); labels become Modal tags, the
idle TTL becomes `idle_timeout`, and the network is blocked unless the assistant allows it.
Credentials: `MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET` (read by the SDK). The SDK is synchronous
here, so calls run in worker threads. Not exercised live here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service.sandboxes.cloud import CloudProvider
from deep_agent_service.sandboxes.provider import SandboxInfo
from deep_agent_service.settings import Settings

MAX_LIFETIME_SECONDS = 24 * 3600  # Modal's upper bound for a sandbox's total lifetime


def create_params(name: str, labels: Mapping[str, str], ttl_seconds: int, *, network: bool = False) -> dict[str, Any]:
    """Keyword arguments of `modal.Sandbox.create` for one of our sandboxes (app and image aside)."""
    return {
        "name": name,
        "tags": dict(labels),
        "idle_timeout": ttl_seconds,
        "timeout": MAX_LIFETIME_SECONDS,
        "block_network": not network,
    }


class ModalProvider(CloudProvider):
    service = "Modal"

    def __init__(self, app_name: str, *, image: str | None = None, network: bool = False) -> None:
        self.app_name = app_name
        self.image = image
        self.network = network

    @classmethod
    def not_found_errors(cls) -> tuple[type[BaseException], ...]:
        from modal.exception import NotFoundError

        return (NotFoundError,)

    async def _box(self, name: str) -> Any:
        import modal

        return await asyncio.to_thread(modal.Sandbox.from_name, self.app_name, name)

    async def _find(self, name: str) -> SandboxBackendProtocol | None:
        from langchain_modal import ModalSandbox

        sandbox: SandboxBackendProtocol = ModalSandbox(sandbox=await self._box(name))
        return sandbox

    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None:
        import modal

        def create() -> None:
            app = modal.App.lookup(self.app_name, create_if_missing=True)
            image = modal.Image.from_registry(self.image) if self.image else None
            modal.Sandbox.create(app=app, image=image, **create_params(name, labels, ttl_seconds, network=self.network))

        await asyncio.to_thread(create)

    async def _remove(self, name: str) -> bool:
        await asyncio.to_thread((await self._box(name)).terminate)
        return True

    async def _boxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        import modal

        def collect() -> list[SandboxInfo]:
            app = modal.App.lookup(self.app_name, create_if_missing=True)
            return [
                SandboxInfo(
                    name=box.get_tags().get("name", box.object_id),
                    sandbox_id=box.object_id,
                    labels=box.get_tags(),
                    created_at=0.0,
                )
                for box in modal.Sandbox.list(app_id=app.app_id, tags=dict(labels))
            ]

        return await asyncio.to_thread(collect)


def provider_from_settings(settings: Settings, *, network: bool) -> ModalProvider:
    import modal  # noqa: F401 - fail at start-up when the extra is missing

    return ModalProvider(settings.server.deployment_name, image=settings.sandbox.template, network=network)
