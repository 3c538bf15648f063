"""SANDBOX_PROVIDER unset: LangSmith sandboxes on LangSmith Deployments (whose image has no bubblewrap),
detected from the variable the platform sets in every deployment's container; the local provider
elsewhere. An explicit SANDBOX_PROVIDER, in the environment or in `.env`, always wins."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langsmith.utils import get_env_var

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.errors import ConfigurationError
from deep_agent_service.sandboxes.langsmith import LangSmithProvider
from deep_agent_service.sandboxes.registry import build_provider
from deep_agent_service.settings import LANGSMITH_DEPLOYMENT_VARIABLE, SandboxSettings, Settings, load_settings

PLATFORM = {LANGSMITH_DEPLOYMENT_VARIABLE: str(uuid.uuid4())}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for var in ("SANDBOX_PROVIDER", LANGSMITH_DEPLOYMENT_VARIABLE, "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    get_env_var.cache_clear()  # the SDK caches what it read of the environment
    yield
    get_env_var.cache_clear()


def _provider_with(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> SandboxSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return SandboxSettings()


def test_off_the_platform_the_default_is_the_local_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = _provider_with(monkeypatch, {})
    assert sandbox.provider == "local" and not sandbox.provider_detected


def test_on_langsmith_deployments_the_default_is_langsmith(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = _provider_with(monkeypatch, PLATFORM)
    assert sandbox.provider == "langsmith" and sandbox.provider_detected


@pytest.mark.parametrize("explicit", ["local", "daytona", "langsmith"])
def test_an_explicit_provider_wins_over_the_platform(monkeypatch: pytest.MonkeyPatch, explicit: str) -> None:
    sandbox = _provider_with(monkeypatch, {**PLATFORM, "SANDBOX_PROVIDER": explicit})
    assert sandbox.provider == explicit and not sandbox.provider_detected


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _provider_with(monkeypatch, {LANGSMITH_DEPLOYMENT_VARIABLE: " "}).provider == "local"
    assert _provider_with(monkeypatch, {**PLATFORM, "SANDBOX_PROVIDER": ""}).provider == "langsmith"


def test_a_provider_in_dotenv_wins_over_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("SANDBOX_PROVIDER=local\n")
    assert _provider_with(monkeypatch, PLATFORM).provider == "local"


def test_the_documented_env_example_leaves_the_choice_to_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text((PROJECT_ROOT / ".env.example").read_text())
    for name, value in PLATFORM.items():
        monkeypatch.setenv(name, value)
    assert load_settings().sandbox.provider == "langsmith"


def test_the_detected_provider_is_built_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # LangSmith Deployments give the deployment its LangSmith key as LANGCHAIN_API_KEY.
    sandbox = _provider_with(monkeypatch, {**PLATFORM, "LANGCHAIN_API_KEY": "lsv2-unit-test-not-a-real-key"})
    with caplog.at_level(logging.INFO, logger="deep_agent_service.sandboxes"):
        provider = build_provider(Settings(sandbox=sandbox))
    assert isinstance(provider, LangSmithProvider)
    line = next(message for message in caplog.messages if LANGSMITH_DEPLOYMENT_VARIABLE in message)
    assert "SANDBOX_PROVIDER is unset" in line and "set SANDBOX_PROVIDER to choose another" in line


def test_the_detected_provider_without_a_key_refuses_and_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = _provider_with(monkeypatch, PLATFORM)
    with pytest.raises(ConfigurationError) as refused:
        build_provider(Settings(sandbox=sandbox))
    message = str(refused.value)
    assert "needs LANGSMITH_API_KEY" in message and LANGSMITH_DEPLOYMENT_VARIABLE in message
    assert "set SANDBOX_PROVIDER to choose another" in message and "\n" not in message
