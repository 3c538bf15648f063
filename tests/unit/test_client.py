"""`connect` lets an idle connection go before the server does, so a request after a quiet spell
never lands on a connection the server is closing (the flake CI met: "Server disconnected without
sending a response" on the first call after a 5 s run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client

from deep_agent_service.client import IDLE_CONNECTION_SECONDS, connect

QUIET_SECONDS = IDLE_CONNECTION_SECONDS + 1.0
"""Longer than `connect` keeps a connection, shorter than the server's keep-alive."""


@pytest.fixture
async def closing_server() -> AsyncIterator[str]:
    """HTTP/1.1 on loopback that, like uvicorn at the end of its keep-alive, drops a connection
    without an answer when a request comes after a quiet spell: the instant of the race, made certain."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last_answer = None
        while True:
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                break
            if last_answer is not None and time.monotonic() - last_answer >= QUIET_SECONDS - 0.5:
                break
            body = b'{"ok":true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            last_answer = time.monotonic()
        writer.close()

    async def serve_quietly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve_quietly, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def ask_twice_with_a_quiet_spell(client_url: str, *, stock: bool) -> object:
    client = get_client(url=client_url, api_key=None) if stock else connect(url=client_url, api_key=None)
    assert await client.http.get("/ok") == {"ok": True}
    await asyncio.sleep(QUIET_SECONDS)
    try:
        return await client.http.get("/ok")
    finally:
        await client.aclose()


async def test_the_stock_client_reuses_a_connection_the_server_is_closing(closing_server: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected"):
        await ask_twice_with_a_quiet_spell(closing_server, stock=True)


async def test_connect_opens_a_fresh_connection_after_a_quiet_spell(closing_server: str) -> None:
    assert await ask_twice_with_a_quiet_spell(closing_server, stock=False) == {"ok": True}


async def test_connect_keeps_the_sdk_headers_and_key() -> None:
    client = connect(url="http://127.0.0.1:9", api_key="k-1", headers={"x-tenant": "acme"})
    headers = client.http.client.headers
    assert (headers["x-api-key"], headers["x-tenant"]) == ("k-1", "acme")
    assert headers["user-agent"].startswith("langgraph-sdk-py/")
    await client.aclose()
