"""Modal (`SANDBOX_PROVIDER=modal`, extra `sandbox-modal`): a thin adapter over `langchain-modal`.

Sandboxes are named within one Modal app (the deployment name); labels become Modal tags, the
idle TTL becomes `idle_timeout`, and the network is blocked unless the assistant allows it.
Credentials: `MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET` (read by the SDK). Not exercised live here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from deepagents.backends.protocol import SandboxBackendProtocol

from deep_agent_service.sandboxes.cloud import CloudProvider
from deep_agent_service.sandboxes.provider import (
    NameRules,
    SandboxError,
    SandboxGone,
    SandboxInfo,
    SandboxUnreachable,
)
from deep_agent_service.settings import Settings

NAME_RULES = NameRules(max_length=63)
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


def classify(error: BaseException) -> SandboxError:
    from modal.exception import NotFoundError

    if isinstance(error, NotFoundError):
        return SandboxGone(f"Modal sandbox not found: {error}")
    return SandboxUnreachable(f"Modal: {type(error).__name__}: {error}")


class ModalProvider(CloudProvider):
    name_rules = NAME_RULES

    def __init__(self, app_name: str, *, image: str | None = None, network: bool = False) -> None:
        self.app_name = app_name
        self.image = image
        self.network = network

    def classify(self, error: BaseException) -> SandboxError:
        return classify(error)

    async def _find(self, name: str) -> SandboxBackendProtocol | None:
        import modal
        from langchain_modal import ModalSandbox

        try:
            box = await asyncio.to_thread(modal.Sandbox.from_name, self.app_name, name)
        except modal.exception.NotFoundError:
            return None
        sandbox: SandboxBackendProtocol = ModalSandbox(sandbox=box)
        return sandbox

    async def _create(self, name: str, labels: Mapping[str, str], ttl_seconds: int) -> None:
        import modal

        def create() -> None:
            app = modal.App.lookup(self.app_name, create_if_missing=True)
            image = modal.Image.from_registry(self.image) if self.image else None
            modal.Sandbox.create(app=app, image=image, **create_params(name, labels, ttl_seconds, network=self.network))

        await asyncio.to_thread(create)

    async def _remove(self, name: str) -> bool:
        import modal

        try:
            box = await asyncio.to_thread(modal.Sandbox.from_name, self.app_name, name)
        except modal.exception.NotFoundError:
            return False
        await asyncio.to_thread(box.terminate)
        return True

    async def _list(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        import modal

        def collect() -> list[SandboxInfo]:
            app = modal.App.lookup(self.app_name, create_if_missing=True)
            boxes = modal.Sandbox.list(app_id=app.app_id, tags=dict(labels))
            return [
                SandboxInfo(
                    name=box.get_tags().get("name", box.object_id),
                    sandbox_id=box.object_id,
                    labels=box.get_tags(),
                    created_at=0.0,
                )
                for box in boxes
            ]

        return await asyncio.to_thread(collect)


def provider_from_settings(settings: Settings, *, network: bool) -> ModalProvider:
    import modal  # noqa: F401 - fail at start-up when the extra is missing

    return ModalProvider(settings.deployment_name, image=settings.sandbox_template, network=network)
