from __future__ import annotations

import pytest

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for var in ("MODEL", "FALLBACK_MODELS", "AUTH_MODE", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_to_the_offline_model_without_keys() -> None:
    settings = load_settings()
    assert settings.models.primary_model == "offline"
    assert settings.auth.mode == "local"
    assert (settings.auth.local_user, settings.auth.local_org) == ("local", "local")


def test_model_spec_and_fallbacks_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL", "anthropic:claude-sonnet-4-5")
    monkeypatch.setenv("FALLBACK_MODELS", "openai:gpt-4.1-mini, anthropic:claude-haiku-4-5")
    settings = load_settings()
    assert settings.models.primary_model == "anthropic:claude-sonnet-4-5"
    assert settings.models.fallback_models == ("openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MODEL", "nosuchprovider:model-x", "MODEL='nosuchprovider:model-x' names unknown provider"),
        ("MODEL", "claude", "is not a model spec"),
        ("FALLBACK_MODELS", "openai:gpt-4.1,bogus:x", "FALLBACK_MODELS='bogus:x'"),
        ("AUTH_MODE", "ldap", "AUTH_MODE"),
        ("DEPLOYMENT_NAME", "Not A Name!", "DEPLOYMENT_NAME"),
    ],
)
def test_invalid_values_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_a_provider_key_without_model_asks_for_an_explicit_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with pytest.raises(ConfigurationError, match="MODEL=offline"):
        load_settings()


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    with open(".env", "w") as env_file:
        env_file.write("LOCAL_USER=dana\nLOCAL_ORG=acme\n")
    settings = load_settings()
    assert (settings.auth.local_user, settings.auth.local_org) == ("dana", "acme")


def test_the_documented_env_example_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / ".env.example"
    Path(".env").write_text(example.read_text())
    settings = load_settings()
    assert settings.models.primary_model == "offline"
    assert settings.auth.mode == "local"
    assert settings.auth.jwks_file is None and settings.auth.api_keys is None
