"""`GET /info` is how Agent Chat UI checks a key before anything else: with an auth mode other than
`local` it needs valid credentials, so a wrong key is reported at once instead of a message that
just sits there. In `local` mode it stays open (one local user on loopback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from deep_agent_service.server.devserver import DevServer
from tests.support.server import api_keys_env, serving

KEY = "info-test-key-1"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = api_keys_env({KEY: {"user": "ann", "org": "acme", "role": "member"}})
    with serving(Path(tmp_path_factory.mktemp("info-keyed")), env) as server:
        yield server


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}],
    ids=["no key", "wrong x-api-key", "wrong bearer"],
)
def test_info_refuses_a_missing_or_wrong_key(keyed_server: DevServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{keyed_server.url}/info", headers=headers)
    assert response.status_code in (401, 403), response.text
    assert "version" not in response.json()
    assert response.json()["detail"]


def test_info_answers_a_valid_key_as_the_server_does(keyed_server: DevServer) -> None:
    # Agent Chat UI's checkGraphStatus: fetch(`${apiUrl}/info`, {headers: {"X-Api-Key": apiKey}})
    response = httpx.get(f"{keyed_server.url}/info", headers={"X-Api-Key": KEY})
    assert response.status_code == 200, response.text
    assert {"version", "flags"} <= response.json().keys()


def test_info_refuses_a_wrong_key_to_a_browser_on_another_origin_readably(keyed_server: DevServer) -> None:
    origin = {"origin": "http://localhost:3000"}
    response = httpx.get(f"{keyed_server.url}/info", headers={**origin, "x-api-key": "wrong"})
    assert response.status_code == 401
    assert response.headers.get("access-control-allow-origin") in ("*", origin["origin"])


def test_info_stays_open_in_local_mode(server: DevServer) -> None:
    assert httpx.get(f"{server.url}/info").status_code == 200


def test_the_cli_refuses_a_wrong_key_before_it_asks_for_a_message(keyed_server: DevServer) -> None:
    # --assistant and --thread given: nothing else would reach the server before the first message
    env = {**os.environ, "DEEP_AGENT_URL": keyed_server.url, "TERM": "dumb"}
    args = ["-m", "deep_agent_service.cli", "chat", "--assistant", "a", "--thread", "t", "--api-key", "wrong"]
    chat = pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", timeout=60)
    index = chat.expect(["you> ", "refused the credentials"])
    chat.expect(pexpect.EOF)
    chat.close()
    assert index == 1, chat.before
    assert chat.exitstatus == 1


def test_the_cli_works_with_the_right_key(keyed_server: DevServer) -> None:
    env = {**os.environ, "DEEP_AGENT_URL": keyed_server.url, "TERM": "dumb"}
    listing = pexpect.spawn(
        sys.executable, ["-m", "deep_agent_service.cli", "threads", "--api-key", KEY], env=env, encoding="utf-8"
    )
    listing.expect(pexpect.EOF, timeout=60)
    listing.close()
    assert listing.exitstatus == 0, listing.before
