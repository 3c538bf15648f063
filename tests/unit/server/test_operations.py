"""Operations pieces that need no server: assistant ids across servers, tracing switch, TTL config."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, get_args

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.errors import ConfigurationError
from deep_agent_service.settings import load_settings
from deep_agent_service.tenancy.identity import canonical_assistant_id, stamp_run_assistant


def test_a_graph_id_names_its_default_assistant() -> None:
    # The id langgraph dev and Aegra both give the `agent` graph's default assistant (see the integration tests).
    assert canonical_assistant_id("agent") == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    some = str(uuid.uuid4())
    assert canonical_assistant_id(some) == some


def test_the_run_assistant_is_stamped_over_what_an_aegra_client_sent() -> None:
    value: dict[str, Any] = {
        "assistant_id": "agent",
        "config": {"configurable": {"assistant_id": "someone-elses", "assistant_settings": {"instructions": "x"}}},
    }
    stamp_run_assistant(value)
    assert value["config"]["configurable"] == {
        "assistant_id": canonical_assistant_id("agent"),
        "assistant_settings": {"instructions": "x"},
    }
    no_config: dict[str, Any] = {"assistant_id": "agent", "config": None}
    stamp_run_assistant(no_config)
    assert no_config["config"] == {"configurable": {"assistant_id": canonical_assistant_id("agent")}}


def test_the_assistants_stored_configurable_goes_beneath_the_runs_own_keys() -> None:
    # Aegra merges a run's config over its assistant's one level deep: the handler merges `configurable`.
    stored = {"assistant_settings": {"interrupt_on": ["write_file"]}, "tone": "dry", "assistant_id": "stale"}
    value: dict[str, Any] = {"assistant_id": "agent", "config": {"configurable": {"tone": "warm"}, "tags": ["t"]}}
    stamp_run_assistant(value, stored)
    assert value["config"] == {
        "configurable": {
            "assistant_settings": {"interrupt_on": ["write_file"]},
            "tone": "warm",
            "assistant_id": canonical_assistant_id("agent"),
        },
        "tags": ["t"],
    }
    assert stored["assistant_id"] == "stale", "the stored config itself is not changed"


def test_langgraph_api_run_values_are_left_alone() -> None:
    value: dict[str, Any] = {"assistant_id": "agent", "kwargs": {"config": {}}}
    stamp_run_assistant(value)
    assert value == {"assistant_id": "agent", "kwargs": {"config": {}}}


def test_tracing_without_a_key_fails_at_start_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    monkeypatch.delenv("LANGCHAIN_API_KEY", raising=False)
    assert load_settings().server.langsmith_tracing is False
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    with pytest.raises(ConfigurationError, match="LANGSMITH_TRACING=true needs LANGSMITH_API_KEY"):
        load_settings()
    # the name LangSmith Deployments give a deployment's key, which the langsmith library reads too
    monkeypatch.setenv("LANGCHAIN_API_KEY", "lsv2-unit-test-not-a-real-key")
    assert load_settings().server.langsmith_tracing is True


class _Recorder(BaseHTTPRequestHandler):
    paths: list[str] = []  # noqa: RUF012 - shared by the handler instances of one test server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_PATCH = do_POST
    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def langsmith_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A loopback stand-in for the LangSmith API that records every request it gets."""
    import langsmith.utils
    from langchain_core.tracers import langchain as lc_tracers

    _Recorder.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LANGSMITH_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("LANGSMITH_API_KEY", "test-key")
    for var in ("LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING", "LANGSMITH_TRACING_V2"):
        monkeypatch.delenv(var, raising=False)

    def reset() -> None:  # the env is read once and cached by langsmith / langchain-core
        langsmith.utils.get_env_var.cache_clear()
        monkeypatch.setattr(lc_tracers, "_CLIENT", None, raising=False)

    reset()
    try:
        yield _Recorder.paths
    finally:
        lc_tracers.wait_for_all_tracers()
        server.shutdown()
        reset()


async def _run_agent_once() -> None:
    from langchain_core.tracers.langchain import wait_for_all_tracers

    graph = build_agent(AssistantSettings()).copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})
    configurable = {"thread_id": "t", "assistant_id": "a", "langgraph_auth_user": {"identity": "u", "org": "o"}}
    await graph.ainvoke({"messages": [{"role": "user", "content": "plan: a"}]}, {"configurable": configurable})
    wait_for_all_tracers()


@pytest.mark.parametrize(("tracing", "expect_requests"), [("false", False), ("true", True)])
async def test_langsmith_tracing_is_switched_by_env_only(
    langsmith_endpoint: list[str], monkeypatch: pytest.MonkeyPatch, tracing: str, expect_requests: bool
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", tracing)
    import langsmith.utils

    langsmith.utils.get_env_var.cache_clear()
    await _run_agent_once()
    assert bool(langsmith_endpoint) is expect_requests, langsmith_endpoint


def test_langgraph_json_ttls_use_the_server_schema() -> None:
    from langgraph_cli.schemas import ThreadTTLConfig, TTLConfig  # what `langgraph dev` validates against

    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    thread_ttl, store_ttl = config["checkpointer"]["ttl"], config["store"]["ttl"]
    assert set(thread_ttl) <= set(ThreadTTLConfig.__annotations__)
    assert thread_ttl["strategy"] in get_args(ThreadTTLConfig.__annotations__["strategy"])
    assert set(store_ttl) <= set(TTLConfig.__annotations__)
    assert thread_ttl["default_ttl"] > 0 and store_ttl["default_ttl"] > 0
