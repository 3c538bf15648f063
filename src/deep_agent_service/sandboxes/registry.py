"""Which provider serves sandboxes (`SANDBOX_PROVIDER`), built once per process from settings."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes.isolation import Isolation, Limits
from deep_agent_service.sandboxes.local import LocalProvider
from deep_agent_service.sandboxes.provider import SandboxProvider
from deep_agent_service.settings import Settings, get_settings

# provider name -> (module with a `provider_from_settings(settings, network)` function, pip extra)
CLOUD_PROVIDERS: dict[str, tuple[str, str]] = {
    "langsmith": ("deep_agent_service.sandboxes.langsmith", "sandbox-langsmith"),
    "daytona": ("deep_agent_service.sandboxes.daytona", "sandbox-daytona"),
    "modal": ("deep_agent_service.sandboxes.modal", "sandbox-modal"),
    "runloop": ("deep_agent_service.sandboxes.runloop", "sandbox-runloop"),
}


def local_limits(settings: Settings) -> Limits:
    return Limits(
        timeout_seconds=float(settings.sandbox.timeout_seconds),
        output_bytes=settings.sandbox.output_bytes,
        memory_mb=settings.sandbox.memory_mb,
        processes=settings.sandbox.max_processes,
        file_mb=settings.sandbox.max_file_mb,
        disk_mb=settings.sandbox.disk_mb,
        egress_allow=settings.sandbox.egress_allow,
    )


def build_provider(settings: Settings, *, network: bool = False) -> SandboxProvider:
    """A provider for these settings; misconfiguration raises `ConfigurationError` (one line)."""
    if settings.sandbox.provider == "local":
        from deep_agent_service.sandboxes.isolation import IsolationUnavailableError

        try:
            return LocalProvider(
                Path(settings.sandbox.root),
                limits=local_limits(settings),
                isolation=Isolation(settings.sandbox.isolation),
                network=network,
            )
        except IsolationUnavailableError as error:
            raise ConfigurationError(f"invalid configuration: SANDBOX_ISOLATION=bwrap: {error}") from None
    module_name, extra = CLOUD_PROVIDERS[settings.sandbox.provider]
    try:
        module = importlib.import_module(module_name)
        provider: SandboxProvider = module.provider_from_settings(settings, network=network)
    except ImportError as error:
        raise ConfigurationError(
            f"invalid configuration: SANDBOX_PROVIDER={settings.sandbox.provider} needs the "
            f"'{extra}' extra: pip install -e '.[{extra}]' ({error})"
        ) from None
    return provider


@functools.cache
def get_provider(network: bool = False) -> SandboxProvider:
    """The process-wide provider (one per network policy)."""
    return build_provider(get_settings(), network=network)
