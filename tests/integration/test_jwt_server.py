"""The `jwt` auth mode through a real server: tokens map to users and orgs; bad tokens are 401."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.server import launch
from tests.support.tally import TENANT_ISOLATION

ISSUER, AUDIENCE = "https://login.example.test/", "deep-agent-service"
SECRET = secrets.token_urlsafe(32)


def token(sub: str, org: str, **overrides: Any) -> str:
    claims = {"sub": sub, "org": org, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    return jwt.encode({**claims, **overrides}, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": SECRET, "AUTH_JWT_ISSUER": ISSUER, "AUTH_JWT_AUDIENCE": AUDIENCE}
    server = launch(Path(tmp_path_factory.mktemp("jwt")), env=env)
    try:
        yield server
    finally:
        server.stop()


def client(server: DevServer, bearer: str) -> LangGraphClient:
    return connect(url=server.url, headers={"Authorization": f"Bearer {bearer}"})


async def test_users_of_two_orgs_are_kept_apart(jwt_server: DevServer) -> None:
    ann = client(jwt_server, token("auth0|ann", "initech"))
    ben = client(jwt_server, token("auth0|ann", "umbrella"))  # same subject, another org: another user
    thread = await ann.threads.create()
    assert "remember" in await ask(ann, "remember ann's launch code is 7", thread_id=thread["thread_id"])
    for attempt in (ben.threads.get(thread["thread_id"]), ben.threads.get_state(thread["thread_id"])):
        TENANT_ISOLATION.attempts += 1
        with pytest.raises(httpx.HTTPStatusError) as denied:
            await attempt
        assert denied.value.response.status_code in (403, 404)
        TENANT_ISOLATION.denied += 1
    assert "launch code" not in await ask(ben, "what do you remember")
    assert "launch code is 7" in await ask(ann, "what do you remember")
    # the user id with '|' is encoded into a valid namespace part
    system = await ann.assistants.search(graph_id="agent", metadata={"created_by": "system"})
    items = await ann.store.search_items(("initech", "private", system[0]["assistant_id"], "auth0~7Cann"))
    assert [i["value"]["content"] for i in items["items"]] == ["ann's launch code is 7\n"]


@pytest.mark.parametrize(
    "bad",
    [
        token("u", "o", exp=int(time.time()) - 5),
        token("u", "o", aud="other-service"),
        token("u", "o", iss="https://evil.test/"),
        jwt.encode({"sub": "u", "org": "o", "iss": ISSUER, "aud": AUDIENCE}, "wrong-secret-" + "z" * 24),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.",
        "malformed",
    ],
)
async def test_bad_tokens_are_refused_by_the_server(jwt_server: DevServer, bad: str) -> None:
    TENANT_ISOLATION.attempts += 1
    async with httpx.AsyncClient(base_url=jwt_server.url) as http:
        response = await http.post("/threads/search", json={}, headers={"Authorization": f"Bearer {bad}"})
    assert response.status_code == 401
    TENANT_ISOLATION.denied += 1
