"""Two orgs of test tenants, their credentials, and servers that know them (`api_keys` and `jwt` modes).

acme has alice (admin), bob and erin (members); globex has carol (admin) and dave (member). Tests
make bob the victim: the attackers are another member of his org, an admin of another org and a
member of another org.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server import selfhost
from deep_agent_service.server.devserver import DevServer, free_port, isolated_config
from tests.support.own_services import own_postgres, own_redis
from tests.support.server import BASE_ENV, api_keys_env, serving
from tests.support.services import require_aegra_venv

PEOPLE: dict[str, tuple[str, str]] = {
    "alice": ("acme", "admin"),
    "bob": ("acme", "member"),
    "erin": ("acme", "member"),
    "carol": ("globex", "admin"),
    "dave": ("globex", "member"),
}
VICTIM = "bob"
# Same-org member, other-org admin, other-org member.
ATTACKERS = ("erin", "carol", "dave")
OTHER_ORG_ADMIN = "carol"
JWT_ISSUER, JWT_AUDIENCE = "https://login.example.test/", "deep-agent-service"


@dataclass(frozen=True)
class Tenants:
    """A running server and each person's request headers for it."""

    server: DevServer
    headers: Mapping[str, Mapping[str, str]]
    mode: str
    kind: str = "langgraph-dev"  # or "aegra"

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, name: str) -> LangGraphClient:
        """A langgraph-sdk client acting as `name` (the SDK sends an API key through its own argument)."""
        headers = dict(self.headers[name])
        if "x-api-key" in headers:
            return connect(url=self.url, api_key=headers.pop("x-api-key"))
        return connect(url=self.url, headers=headers)


def _api_key_headers() -> dict[str, dict[str, str]]:
    return {name: {"x-api-key": f"test-{name}-{secrets.token_urlsafe(16)}"} for name in PEOPLE}


def _api_key_table(headers: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {h["x-api-key"]: {"user": n, "org": PEOPLE[n][0], "role": PEOPLE[n][1]} for n, h in headers.items()}


def _jwt_headers(secret: str) -> dict[str, dict[str, str]]:
    def bearer(name: str, org: str, role: str) -> dict[str, str]:
        claims = {
            "sub": name,
            "org": org,
            "role": role,
            "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE,
            "exp": int(time.time()) + 3600,
        }
        return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}

    return {name: bearer(name, org, role) for name, (org, role) in PEOPLE.items()}


@contextmanager
def tenant_server(mode: str, workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[Tenants]:
    """A `langgraph dev` server in `mode` (`api_keys` or `jwt`) that knows every person in PEOPLE."""
    extra: dict[str, Any] = dict(env or {})
    if mode == "api_keys":
        headers = _api_key_headers()
        server_env = {**api_keys_env(_api_key_table(headers)), **extra}
    elif mode == "jwt":
        secret = secrets.token_urlsafe(32)
        headers = _jwt_headers(secret)
        server_env = {
            "AUTH_MODE": "jwt",
            "AUTH_JWT_SECRET": secret,
            "AUTH_JWT_ISSUER": JWT_ISSUER,
            "AUTH_JWT_AUDIENCE": JWT_AUDIENCE,
            **extra,
        }
    else:
        raise ValueError(f"unknown auth mode {mode!r}: use api_keys or jwt")
    with serving(workdir, server_env) as server:
        yield Tenants(server=server, headers=headers, mode=mode)


@contextmanager
def aegra_tenant_server(
    workdir: Path, postgres_server_url: str, redis_url: str, extra_env: Mapping[str, str] | None = None
) -> Iterator[Tenants]:
    """One Aegra instance in `api_keys` mode that knows every person in PEOPLE, on a database of its
    own in the PostgreSQL at `postgres_server_url` (see tests/support/own_services.py) and `redis_url`."""
    headers = _api_key_headers()
    database_url = selfhost.create_database("tenants", postgres_server_url)
    env = {**BASE_ENV, **api_keys_env(_api_key_table(headers)), **(extra_env or {})}
    env |= selfhost.aegra_env(database_url, redis_url=redis_url, config=isolated_config(workdir, env))
    server = selfhost.start_aegra(port=free_port(), env=env, log_path=workdir / "aegra.log", cwd=workdir, timeout=180)
    try:
        yield Tenants(server=server, headers=headers, mode="api_keys", kind="aegra")
    finally:
        server.stop()


SERVER_KINDS = ("langgraph-dev", "aegra")


@contextmanager
def tenant_server_of(kind: str, workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[Tenants]:
    """An `api_keys` server of `kind` (one of SERVER_KINDS) that knows every person in PEOPLE; Aegra on
    a PostgreSQL and a Redis of its own."""
    if kind == "langgraph-dev":
        with tenant_server("api_keys", workdir, env) as running:
            yield running
        return
    require_aegra_venv()
    with (
        own_postgres() as postgres,
        own_redis() as redis,
        aegra_tenant_server(workdir, postgres.server_url, redis.url, extra_env=env) as running,
    ):
        yield running
