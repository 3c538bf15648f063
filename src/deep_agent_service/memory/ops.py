"""Memory operations on a running server, through its `/store` API (langgraph-sdk store calls).

    deep-agent-memory namespaces --org acme
    deep-agent-memory export --org acme [--user bob] --out memories.json
    deep-agent-memory delete-user --org acme --user bob --yes
    deep-agent-memory delete-org --org acme --yes

They need an admin's credentials (`--api-key` / `DEEP_AGENT_API_KEY`, or `--token` for jwt mode):
the store auth handler lets admins read and delete anything under their own org, nothing else.
User and org ids are given as they are; they are encoded into namespace parts here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.tenancy.identity import Scope, decode_part, encode_part

PAGE = 100


def user_namespaces(all_namespaces: Sequence[Sequence[str]], org: str, user: str) -> list[tuple[str, ...]]:
    """The namespaces that hold one user's memories: private (any assistant) and user scope."""
    org_part, user_part = encode_part(org), encode_part(user)
    chosen = []
    for namespace in map(tuple, all_namespaces):
        if namespace[:1] != (org_part,):
            continue
        if (len(namespace) == 4 and namespace[1] == Scope.PRIVATE and namespace[3] == user_part) or (
            namespace[1:] == (Scope.USER, user_part)
        ):
            chosen.append(namespace)
    return chosen


async def list_namespaces(client: LangGraphClient, org: str) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    while True:
        page = await client.store.list_namespaces(prefix=[encode_part(org)], limit=PAGE, offset=len(found))
        found.extend(tuple(ns) for ns in page["namespaces"])
        if len(page["namespaces"]) < PAGE:
            return found


async def items_in(client: LangGraphClient, namespace: tuple[str, ...]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    seen = 0  # the search is by prefix: deeper namespaces come back too, and count for paging
    while True:
        page = await client.store.search_items(namespace, limit=PAGE, offset=seen)
        seen += len(page["items"])
        items.extend(dict(item) for item in page["items"] if tuple(item["namespace"]) == namespace)
        if len(page["items"]) < PAGE:
            return items


async def export(client: LangGraphClient, org: str, user: str | None) -> dict[str, Any]:
    """Every memory of a user (or of the whole org) as one JSON-serialisable document."""
    namespaces = await list_namespaces(client, org)
    if user is not None:
        namespaces = user_namespaces(namespaces, org, user)
    return {
        "org": org,
        "user": user,
        "exported_at": datetime.now(UTC).isoformat(),
        "namespaces": [
            {
                "namespace": list(namespace),
                "decoded": [decode_part(part) for part in namespace],
                "items": [{"key": item["key"], "value": item["value"]} for item in await items_in(client, namespace)],
            }
            for namespace in namespaces
        ],
    }


async def delete(client: LangGraphClient, namespaces: Sequence[tuple[str, ...]]) -> int:
    deleted = 0
    for namespace in namespaces:
        for item in await items_in(client, namespace):
            await client.store.delete_item(namespace, item["key"])
            deleted += 1
    return deleted


async def run(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    client = connect(url=args.url, api_key=args.api_key, headers=headers)
    if args.command == "namespaces":
        for namespace in await list_namespaces(client, args.org):
            print("/".join(decode_part(part) for part in namespace), "\t", list(namespace))
        return 0
    if args.command == "export":
        document = await export(client, args.org, args.user)
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if args.out:
            await asyncio.to_thread(Path(args.out).write_text, text)
            count = sum(len(ns["items"]) for ns in document["namespaces"])
            print(f"exported {count} files in {len(document['namespaces'])} namespaces to {args.out}")
        else:
            print(text)
        return 0
    if not args.yes:
        print("refusing to delete without --yes (export first: deep-agent-memory export ...)", file=sys.stderr)
        return 2
    namespaces = await list_namespaces(client, args.org)
    if args.command == "delete-user":
        namespaces = user_namespaces(namespaces, args.org, args.user)
    print(f"deleted {await delete(client, namespaces)} files in {len(namespaces)} namespaces")
    return 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("DEEP_AGENT_URL", "http://127.0.0.1:2024"))
    common.add_argument("--api-key", default=os.environ.get("DEEP_AGENT_API_KEY"))
    common.add_argument("--token", default=os.environ.get("DEEP_AGENT_TOKEN"), help="a JWT (jwt auth mode)")
    common.add_argument("--org", required=True, help="the organization (your own: admins reach nothing else)")
    main = argparse.ArgumentParser(prog="deep-agent-memory", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("namespaces", parents=[common], help="list the org's memory namespaces")
    exporter = commands.add_parser("export", parents=[common], help="export memories as JSON")
    exporter.add_argument("--user", help="only this user's memories (default: the whole org)")
    exporter.add_argument("--out", help="file to write (default: stdout)")
    delete_user = commands.add_parser("delete-user", parents=[common], help="delete one user's memories")
    delete_user.add_argument("--user", required=True)
    delete_user.add_argument("--yes", action="store_true")
    delete_org = commands.add_parser("delete-org", parents=[common], help="delete all of an org's memories")
    delete_org.add_argument("--yes", action="store_true")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        hint = {401: "check --api-key/--token", 403: "an admin of that org is needed"}.get(status, "")
        print(f"error: the server answered {status} {error.response.reason_phrase}. {hint}", file=sys.stderr)
        return 1
    except httpx.ConnectError:
        print(f"error: no server at {args.url} (start it with `make run`, or pass --url)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
