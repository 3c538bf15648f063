"""Delete sandboxes that are idle past their TTL or whose thread / assistant no longer exists.

Runs periodically inside the server (the `http.app` lifespan, server/webapp.py) and as a command:

    python -m deep_agent_service.sandboxes.reaper --dry-run   # list what would be deleted
    python -m deep_agent_service.sandboxes.reaper --url http://127.0.0.1:2024

A sandbox busy with a command is always kept. Whether an owner exists is asked of the LangGraph
server through langgraph-sdk (404 = gone); when the server cannot answer, the sandbox is kept:
the reaper never deletes on a guess.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError

from deep_agent_service.sandboxes.errors import SandboxError
from deep_agent_service.sandboxes.provider import (
    LABEL_DEPLOYMENT,
    LABEL_OWNER,
    LABEL_SCOPE,
    SandboxInfo,
    SandboxProvider,
    SandboxScope,
)

logger = logging.getLogger("deep_agent_service.sandboxes.reaper")

# (scope, owner id) -> True (exists), False (gone), None (could not tell)
OwnerCheck = Callable[[SandboxScope, str], Awaitable[bool | None]]


def sdk_owner_check(client: LangGraphClient) -> OwnerCheck:
    """Ask the LangGraph server whether a thread or assistant still exists."""

    async def exists(scope: SandboxScope, owner: str) -> bool | None:
        try:
            if scope is SandboxScope.THREAD:
                await client.threads.get(owner)
            else:
                await client.assistants.get(owner)
        except NotFoundError:
            return False
        except (httpx.HTTPError, OSError) as error:  # includes other HTTP status errors
            logger.warning("reaper could not check %s %s: %s", scope.value, owner, error)
            return None
        return True

    return exists


@dataclass
class ReapReport:
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    kept_busy: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


async def _why_delete(info: SandboxInfo, ttl_seconds: int, exists: OwnerCheck, now: float) -> str | None:
    idle = info.idle_seconds(now)
    if idle is not None and idle > ttl_seconds:
        return f"expired (idle {idle:.0f}s > {ttl_seconds}s)"
    scope, owner = info.labels.get(LABEL_SCOPE), info.labels.get(LABEL_OWNER)
    scoped = scope in (SandboxScope.THREAD.value, SandboxScope.ASSISTANT.value)
    if scoped and owner and await exists(SandboxScope(str(scope)), owner) is False:
        return f"deleted because its {scope} {owner} no longer exists"
    return None


async def reap(
    provider: SandboxProvider,
    *,
    deployment: str,
    ttl_seconds: int,
    exists: OwnerCheck,
    dry_run: bool = False,
) -> ReapReport:
    """One pass over this deployment's sandboxes."""
    report = ReapReport()
    now = time.time()
    for info in await provider.list({LABEL_DEPLOYMENT: deployment}):
        why = await _why_delete(info, ttl_seconds, exists, now)
        if why is None:
            report.kept.append(info.name)
        elif info.busy:
            report.kept_busy.append(info.name)
        elif dry_run:
            report.deleted.append((info.name, why))
        else:
            try:
                deleted = await provider.delete(info.name, reason=why)
            except SandboxError as error:  # busy (a command started meanwhile) or unreachable: keep it
                logger.info("reaper kept %s: %s", info.name, error)
                report.kept_busy.append(info.name)
                continue
            if deleted:
                report.deleted.append((info.name, why))
                logger.info("reaped sandbox %s: %s", info.name, why)
    return report


@contextlib.asynccontextmanager
async def periodic_reaper(
    run_once: Callable[[], Awaitable[ReapReport]], interval_seconds: float
) -> AsyncIterator[asyncio.Task[None] | None]:
    """Run `run_once` every `interval_seconds` while the context is open (0 disables)."""
    if interval_seconds <= 0:
        yield None
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await run_once()
            except Exception:  # a failed pass must not stop the next one
                logger.exception("sandbox reaper pass failed")

    task = asyncio.create_task(loop(), name="sandbox-reaper")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def reap_from_settings(client: LangGraphClient, *, dry_run: bool = False) -> ReapReport:
    from deep_agent_service.sandboxes.registry import get_provider
    from deep_agent_service.settings import get_settings

    settings = get_settings()
    return await reap(
        await asyncio.to_thread(get_provider, network=False),
        deployment=settings.server.deployment_name,
        ttl_seconds=settings.sandbox.idle_ttl_seconds,
        exists=sdk_owner_check(client),
        dry_run=dry_run,
    )


def main(argv: list[str] | None = None) -> int:
    from deep_agent_service.client import connect
    from deep_agent_service.errors import ConfigurationError
    from deep_agent_service.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    parser.add_argument("--url", help="LangGraph server (default SANDBOX_SERVER_URL or http://127.0.0.1:2024)")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        return 2
    url = args.url or settings.sandbox.server_url or "http://127.0.0.1:2024"
    report = asyncio.run(reap_from_settings(connect(url=url), dry_run=args.dry_run))
    verb = "would delete" if args.dry_run else "deleted"
    for name, why in report.deleted:
        print(f"{verb} {name}: {why}")
    for name in report.kept_busy:
        print(f"kept {name}: busy")
    print(f"{len(report.deleted)} {verb}, {len(report.kept_busy)} busy kept, {len(report.kept)} in use kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
