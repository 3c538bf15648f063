"""Token and key validation for the api_keys and jwt auth modes (every bad-token kind is a 401)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from langgraph_sdk import Auth

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.settings import AuthSettings, Settings, load_settings
from deep_agent_service.tenancy.credentials import Principal, build_authenticator, normalise_headers

SECRET = "unit-test-secret-" + "x" * 24
ISSUER, AUDIENCE = "https://issuer.test", "deep-agent-service"


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"sub": "auth0|42", "org": "acme", "role": "admin", "iss": ISSUER, "aud": AUDIENCE}
    return {**base, "exp": int(time.time()) + 300, **overrides}


def hs_settings(**extra: Any) -> Settings:
    return Settings(
        auth=AuthSettings(mode="jwt", jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, **extra)  # type: ignore[arg-type]
    )


async def authenticate(settings: Settings, headers: dict[Any, Any]) -> Principal:
    return await build_authenticator(settings)(headers)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_valid_hs256_token_gives_the_claims() -> None:
    principal = await authenticate(hs_settings(), bearer(jwt.encode(claims(), SECRET, algorithm="HS256")))
    assert principal == Principal(user="auth0|42", org="acme", role="admin")


async def test_custom_claim_names() -> None:
    token = jwt.encode(claims(tenant="globex", perms="member"), SECRET, algorithm="HS256")
    principal = await authenticate(hs_settings(org_claim="tenant", role_claim="perms"), bearer(token))
    assert (principal.org, principal.role) == ("globex", "member")


def _unsigned(payload: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 60), SECRET, algorithm="HS256"),
    "wrong audience": lambda: jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"),
    "wrong issuer": lambda: jwt.encode(claims(iss="https://evil.test"), SECRET, algorithm="HS256"),
    "unsigned (alg none)": lambda: _unsigned(claims()),
    "wrong key": lambda: jwt.encode(claims(), "another-secret-" + "y" * 24, algorithm="HS256"),
    "malformed": lambda: "not.a.jwt",
    "garbage": lambda: "%%%",
    "no exp": lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET, algorithm="HS256"),
    "no org claim": lambda: jwt.encode({k: v for k, v in claims().items() if k != "org"}, SECRET, algorithm="HS256"),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_bad_tokens_are_401(kind: str) -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as rejected:
        await authenticate(hs_settings(), bearer(BAD_TOKENS[kind]()))
    assert rejected.value.status_code == 401


async def test_missing_credentials_are_401() -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as rejected:
        await authenticate(hs_settings(), {})
    assert rejected.value.status_code == 401
    assert "Bearer" in str(rejected.value.detail)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_asymmetric_tokens_verified_against_a_jwks_file(tmp_path: Path, algorithm: str) -> None:
    if algorithm == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        public_jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    public_jwk.update({"kid": "k1", "alg": algorithm, "use": "sig"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk]}))
    settings = Settings(auth=AuthSettings(mode="jwt", jwks_file=jwks, jwt_issuer=ISSUER, jwt_audience=AUDIENCE))
    token = jwt.encode(claims(), private, algorithm=algorithm, headers={"kid": "k1"})
    assert (await authenticate(settings, bearer(token))).user == "auth0|42"
    # An HS256 token signed with the public key as a secret (the classic confusion attack) fails.
    forged = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Auth.exceptions.HTTPException):
        await authenticate(settings, bearer(forged))


def api_key_settings() -> Settings:
    table = {"key-bob": {"user": "bob", "org": "acme"}, "key-amy": {"user": "amy", "org": "acme", "role": "admin"}}
    return Settings(auth=AuthSettings(mode="api_keys", api_keys=json.dumps(table)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": "key-bob"}, {"Authorization": "Bearer key-bob"}, {b"x-api-key": b"key-bob"}],
)
async def test_api_keys_from_either_header_and_either_server(headers: dict[Any, Any]) -> None:
    assert await authenticate(api_key_settings(), headers) == Principal("bob", "acme", "member")


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "key-bo"}, {"Authorization": "Bearer "}])
async def test_unknown_or_missing_api_keys_are_401(headers: dict[str, str]) -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as rejected:
        await authenticate(api_key_settings(), headers)
    assert rejected.value.status_code == 401


def test_headers_are_normalised_from_bytes_and_str() -> None:
    assert normalise_headers({b"X-Api-Key": b"a", "Authorization": "b"}) == {"x-api-key": "a", "authorization": "b"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AUTH_MODE": "jwt"}, "exactly one key source"),
        ({"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": "s"}, "AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE"),
        (
            {
                "AUTH_MODE": "jwt",
                "AUTH_JWKS_FILE": "/nonexistent.json",
                "AUTH_JWT_ISSUER": "i",
                "AUTH_JWT_AUDIENCE": "a",
            },
            "AUTH_JWKS_FILE",
        ),
        ({"AUTH_MODE": "api_keys"}, "needs AUTH_API_KEYS"),
        ({"AUTH_MODE": "api_keys", "AUTH_API_KEYS": "{not json"}, "AUTH_API_KEYS is not valid"),
        ({"AUTH_MODE": "api_keys", "AUTH_API_KEYS": '{"sekrit": {"user": "u"}}'}, "AUTH_API_KEYS is not valid"),
    ],
)
def test_auth_misconfiguration_stops_start_up_without_leaking_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert expected in str(raised.value)
    assert "sekrit" not in str(raised.value) and "\n" not in str(raised.value)
