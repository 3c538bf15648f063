"""Turning request credentials into a verified principal: local, static API keys, or JWTs.

Built once at start-up from settings (`build_authenticator`); a bad configuration raises there.
Rejections are 401 with a reason that never echoes the credential.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from langgraph_sdk import Auth

from deep_agent_service.errors import ConfigurationError
from deep_agent_service.settings import Settings
from deep_agent_service.tenancy.identity import Role

HS_ALGORITHMS = ["HS256"]
ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller."""

    user: str
    org: str
    role: Role


Authenticator = Callable[[Mapping[Any, Any]], Awaitable[Principal]]


def principal_dict(principal: Principal) -> dict[str, Any]:
    """The user object handed to langgraph-api (`identity` plus the claims tenancy/identity.py reads)."""
    return {
        "identity": principal.user,
        "org": principal.org,
        "role": principal.role,
        "display_name": principal.user,
        "is_authenticated": True,
        "permissions": [f"role:{principal.role}"],
    }


def unauthorized(reason: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(
        status_code=401, detail=reason, headers={"WWW-Authenticate": 'Bearer realm="deep-agent-service"'}
    )


def normalise_headers(headers: Mapping[Any, Any] | None) -> dict[str, str]:
    """Lower-case str keys and values from either server's header mapping (bytes or str)."""
    normalised: dict[str, str] = {}
    for key, value in (headers or {}).items():
        name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        normalised[name.lower()] = text
    return normalised


def presented_credential(headers: Mapping[Any, Any]) -> str | None:
    """`Authorization: Bearer <x>` or `x-api-key: <x>` (what langgraph-sdk's `api_key=` sends)."""
    normalised = normalise_headers(headers)
    authorization = normalised.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = normalised.get("x-api-key", "").strip()
    return api_key or None


def _require(headers: Mapping[Any, Any]) -> str:
    credential = presented_credential(headers)
    if credential is None:
        raise unauthorized("missing credentials: send 'Authorization: Bearer <token>' or 'x-api-key: <key>'")
    return credential


def local_authenticator(settings: Settings) -> Authenticator:
    principal = Principal(user=settings.auth.local_user, org=settings.auth.local_org, role="admin")

    async def authenticate(headers: Mapping[Any, Any]) -> Principal:
        return principal

    return authenticate


def api_key_authenticator(settings: Settings) -> Authenticator:
    keys = {key.encode(): Principal(p.user, p.org, p.role) for key, p in settings.auth.principals.items()}

    async def authenticate(headers: Mapping[Any, Any]) -> Principal:
        presented = _require(headers).encode()
        # Compare against every key in constant time so timing does not reveal a near match.
        match = None
        for key, principal in keys.items():
            if hmac.compare_digest(key, presented):
                match = principal
        if match is None:
            raise unauthorized("unknown API key")
        return match

    return authenticate


KeyResolver = Callable[[str], Awaitable[Any]]


def _jwks_file_resolver(settings: Settings) -> KeyResolver:
    assert settings.auth.jwks_file is not None
    try:
        key_set = jwt.PyJWKSet.from_json(settings.auth.jwks_file.read_text())
    except (OSError, jwt.PyJWTError, ValueError) as error:
        raise ConfigurationError(f"AUTH_JWKS_FILE={str(settings.auth.jwks_file)!r} is not a JWKS: {error}") from None

    async def resolve(token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        candidates = [key for key in key_set.keys if kid is None or key.key_id == kid]
        if not candidates:
            raise jwt.InvalidTokenError("no key in the JWKS matches the token's kid")
        return candidates[0].key

    return resolve


def _jwks_url_resolver(settings: Settings) -> KeyResolver:
    assert settings.auth.jwks_url is not None
    client = jwt.PyJWKClient(settings.auth.jwks_url, cache_keys=True, lifespan=600, timeout=5)

    async def resolve(token: str) -> Any:
        # PyJWKClient fetches with blocking urllib; keep it off the event loop.
        signing_key = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
        return signing_key.key

    return resolve


def jwt_authenticator(settings: Settings) -> Authenticator:
    if settings.auth.jwt_secret is not None:
        secret = settings.auth.jwt_secret.get_secret_value()
        algorithms = HS_ALGORITHMS

        async def resolve_secret(token: str) -> Any:
            return secret

        resolve: KeyResolver = resolve_secret
    elif settings.auth.jwks_file is not None:
        algorithms, resolve = ASYMMETRIC_ALGORITHMS, _jwks_file_resolver(settings)
    else:
        algorithms, resolve = ASYMMETRIC_ALGORITHMS, _jwks_url_resolver(settings)
    org_claim, role_claim = settings.auth.org_claim, settings.auth.role_claim

    async def authenticate(headers: Mapping[Any, Any]) -> Principal:
        token = _require(headers)
        try:
            claims = jwt.decode(
                token,
                key=await resolve(token),
                algorithms=algorithms,  # never "none": unsigned tokens fail here
                audience=settings.auth.jwt_audience,
                issuer=settings.auth.jwt_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("token audience is not this service") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("token issuer is not trusted") from None
        except (jwt.PyJWTError, json.JSONDecodeError, ValueError):
            raise unauthorized("invalid token") from None
        user, org, role = claims.get("sub"), claims.get(org_claim), claims.get(role_claim, "member")
        if not isinstance(user, str) or not user:
            raise unauthorized("token has no subject")
        if not isinstance(org, str) or not org:
            raise unauthorized(f"token has no '{org_claim}' claim")
        return Principal(user=user, org=org, role="admin" if role == "admin" else "member")

    return authenticate


def build_authenticator(settings: Settings) -> Authenticator:
    match settings.auth.mode:
        case "local":
            return local_authenticator(settings)
        case "api_keys":
            return api_key_authenticator(settings)
        case "jwt":
            return jwt_authenticator(settings)
