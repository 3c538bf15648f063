from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deep_agent_service.tenancy.identity import (
    IdentityError,
    RunIdentity,
    Scope,
    decode_part,
    encode_part,
    identity_from_user,
    namespace_for,
)

STORE_BACKEND_PART = re.compile(r"^[A-Za-z0-9\-_.@+:~]+$")  # what deepagents' StoreBackend accepts
identities = st.text(min_size=1, max_size=40)


@given(identities)
def test_encoding_round_trips(value: str) -> None:
    assert decode_part(encode_part(value)) == value


@given(identities)
def test_encoded_parts_are_accepted_by_store_backend_and_http_store(value: str) -> None:
    encoded = encode_part(value)
    assert STORE_BACKEND_PART.match(encoded)
    assert "." not in encoded  # the server's /store API rejects labels with periods


@given(identities, identities)
def test_distinct_identities_never_collide(a: str, b: str) -> None:
    if a != b:
        assert encode_part(a) != encode_part(b)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("alice", "alice"), ("auth0|42", "auth0~7C42"), ("a.b@x.io", "a~2Eb@x~2Eio"), ("~", "~7E")],
)
def test_known_encodings(raw: str, encoded: str) -> None:
    assert encode_part(raw) == encoded


@pytest.mark.parametrize("garbage", ["", "~", "~7", "~zz", "a.b", "a b"])
def test_decode_rejects_text_encode_never_produces(garbage: str) -> None:
    with pytest.raises(ValueError):
        decode_part(garbage)


def test_empty_identity_is_refused() -> None:
    with pytest.raises(IdentityError):
        encode_part("")


def test_namespaces_start_with_the_org_and_separate_scopes() -> None:
    who = RunIdentity(org="acme.io", user="auth0|7", assistant_id="asst-1")
    assert namespace_for(Scope.PRIVATE, who) == ("acme~2Eio", "private", "asst-1", "auth0~7C7")
    assert namespace_for(Scope.USER, who) == ("acme~2Eio", "user", "auth0~7C7")
    assert namespace_for(Scope.ASSISTANT, who) == ("acme~2Eio", "assistant", "asst-1")
    assert namespace_for(Scope.ORG, who) == ("acme~2Eio", "org")
    assert namespace_for(Scope.SKILLS, who) == ("acme~2Eio", "skills", "asst-1")


def test_assistant_scoped_namespace_without_assistant_is_an_error() -> None:
    with pytest.raises(IdentityError, match="assistant_id"):
        namespace_for(Scope.PRIVATE, RunIdentity(org="o", user="u"))


class _AttrUser:
    identity = "bob"
    org = "acme"
    role = "admin"


def test_identity_reads_mapping_and_attribute_users() -> None:
    from_mapping = identity_from_user({"identity": "bob", "org": "acme"}, assistant_id="a")
    from_object = identity_from_user(_AttrUser(), thread_id="t")
    assert (from_mapping.user, from_mapping.org, from_mapping.role) == ("bob", "acme", "member")
    assert (from_object.user, from_object.org, from_object.role, from_object.thread_id) == (
        "bob",
        "acme",
        "admin",
        "t",
    )


def test_user_without_org_is_refused() -> None:
    with pytest.raises(IdentityError, match="org"):
        identity_from_user({"identity": "bob"})
