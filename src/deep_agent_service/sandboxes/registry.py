"""Which provider serves sandboxes (`SANDBOX_PROVIDER`), built once per process from settings."""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import os
import stat
from pathlib import Path

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes.isolation import (
    Isolation,
    IsolationUnavailableError,
    Limits,
    runs_as_root,
    shared_disk_clock,
)
from deep_agent_service.sandboxes.local import LocalProvider, check_reachable_by_sandbox_user
from deep_agent_service.sandboxes.provider import SandboxProvider
from deep_agent_service.sandboxes.warm import shared_pool
from deep_agent_service.settings import LANGSMITH_DEPLOYMENT_VARIABLE, Settings, get_settings

# provider name -> (module with a `provider_from_settings(settings, network)` function, pip extra)
CLOUD_PROVIDERS: dict[str, tuple[str, str]] = {
    "langsmith": ("deep_agent_service.sandboxes.langsmith", "sandbox-langsmith"),
    "daytona": ("deep_agent_service.sandboxes.daytona", "sandbox-daytona"),
    "modal": ("deep_agent_service.sandboxes.modal", "sandbox-modal"),
    "runloop": ("deep_agent_service.sandboxes.runloop", "sandbox-runloop"),
}


logger = logging.getLogger("deep_agent_service.sandboxes")

# Where local sandboxes go when SANDBOX_ROOT is unset and the default (./.sandboxes of the server's
# working directory) is private to root: as root, sandboxes run as nobody, who must be able to
# traverse to their workspaces. One subdirectory per checkout, so two checkouts never share boxes.
FALLBACK_SANDBOX_PARENT = Path("/var/tmp/deep-agent-sandboxes")


def local_root(settings: Settings) -> Path:
    """The local provider's directory: SANDBOX_ROOT as given (checked by the provider), or the default,
    or, when the default is unreachable by the sandbox user, a private per-checkout directory (logged)."""
    root = Path(settings.sandbox.root).absolute()
    explicit = "root" in settings.sandbox.model_fields_set
    if explicit or settings.sandbox.isolation != "bwrap" or not runs_as_root():
        return root
    try:
        check_reachable_by_sandbox_user(root)
    except IsolationUnavailableError:
        fallback = FALLBACK_SANDBOX_PARENT / hashlib.sha256(str(root).encode()).hexdigest()[:16]
        for directory in (FALLBACK_SANDBOX_PARENT, fallback):
            _root_owned_directory(directory)
        logger.warning(
            "%s is not reachable by the sandbox user, so local sandboxes live in %s "
            "(set SANDBOX_ROOT to choose another directory)",
            root,
            fallback,
        )
        return fallback
    return root


def _root_owned_directory(directory: Path) -> None:
    """Create `directory` 0711 (traversable, not listable), refusing one another user planted first:
    /var/tmp is writable by everyone, and a symlink or foreign directory there would hand them the boxes."""
    directory.mkdir(mode=0o711, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
        raise ConfigurationError(
            f"invalid configuration: {directory} (the fallback for local sandboxes) is not a directory owned "
            "by root; remove it, or set SANDBOX_ROOT to a directory every user may traverse"
        )
    directory.chmod(0o711)


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
        try:
            return LocalProvider(
                local_root(settings),
                limits=local_limits(settings),
                isolation=Isolation(settings.sandbox.isolation),
                network=network,
                warm=shared_pool(settings.sandbox.warm_seconds, settings.sandbox.warm_max),
                disk_clock=shared_disk_clock(),
            )
        except IsolationUnavailableError as error:
            raise ConfigurationError(f"invalid configuration: SANDBOX_ISOLATION=bwrap: {error}") from None
    if settings.sandbox.provider_detected:
        logger.info(
            "SANDBOX_PROVIDER is unset and this is a LangSmith Deployment (%s is set): sandboxes are "
            "LangSmith sandboxes (SANDBOX_PROVIDER=%s); set SANDBOX_PROVIDER to choose another provider",
            LANGSMITH_DEPLOYMENT_VARIABLE,
            settings.sandbox.provider,
        )
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
