from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.fault_provider import FaultProvider
from tests.support.server import launch


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One real `langgraph dev` server (offline model, local auth) shared by the session's tests."""
    running = launch(Path(tmp_path_factory.mktemp("server")))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def client(server: DevServer) -> AsyncIterator[LangGraphClient]:
    yield connect(url=server.url)


@pytest.fixture(scope="module")
def provider() -> Iterator[FaultProvider]:
    """The fault-injecting OpenAI-compatible provider on loopback, one per test module."""
    with FaultProvider() as running:
        yield running
