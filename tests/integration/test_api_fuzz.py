"""A property-based bad-input pass over the running server's own `/openapi.json` (schemathesis),
authenticated as a member: valid and invalid requests for every operation, a few of each. No
answer may be a 5xx (except the server's own bugs listed in THREAT_MODEL.md), and afterwards the
server is up and bob's data is intact. The run ends with `api fuzz: N cases, M 5xx (K the server's own, known)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support.chat import ask
from tests.support.tally import API_FUZZ
from tests.support.tenants import Tenants, tenant_server

EXAMPLES_PER_MODE = 4  # per operation and generation mode: bounded, the pass takes about a minute
CALL_TIMEOUT_SECONDS = 20
# The server's own 5xx answers to bad input, each recorded in THREAT_MODEL.md ("Server bugs found by
# the fuzz pass"): (method, path) -> why. Anything else that answers 5xx fails the pass.
KNOWN_SERVER_5XX: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenant_server("api_keys", Path(tmp_path_factory.mktemp("fuzz"))) as running:
        yield running


@pytest.fixture(scope="module")
def bobs_data(tenants: Tenants) -> dict[str, Any]:
    bob = tenants.client("bob")

    async def make() -> dict[str, Any]:
        thread = await bob.threads.create(metadata={"topic": "fuzz survivor"})
        await ask(bob, "remember the fuzz word is quokka", thread_id=thread["thread_id"])
        await bob.store.put_item(("acme", "user", "bob"), "/keep.md", {"content": "keep me", "encoding": "utf-8"})
        return {"thread_id": thread["thread_id"]}

    return asyncio.run(make())


def fuzz_operation(operation: Any, url: str, headers: dict[str, str], mode: GenerationMode) -> None:
    name = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure here reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        API_FUZZ.cases += 1
        try:
            response = case.call(base_url=url, headers=headers, timeout=CALL_TIMEOUT_SECONDS)
        except Exception as error:  # a dropped connection is a server error too
            API_FUZZ.server_errors.append(f"{name} ({mode.value}): {type(error).__name__}: {error}")
            return
        if response.status_code >= 500:
            entry = f"{name} ({mode.value}): {response.status_code} {response.text[:200]}"
            if (operation.method.upper(), operation.path) in KNOWN_SERVER_5XX:
                API_FUZZ.known.append(entry)
            else:
                API_FUZZ.server_errors.append(entry)

    try:
        run()
    except Unsatisfiable:  # e.g. no invalid input exists for an operation without parameters
        API_FUZZ.unsatisfiable.append(f"{name} ({mode.value})")


def test_bad_input_never_gets_a_5xx_and_the_server_stays_up(tenants: Tenants, bobs_data: dict[str, Any]) -> None:
    spec = httpx.get(f"{tenants.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = dict(tenants.headers["bob"])
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, tenants.url, headers, mode)
    assert httpx.get(f"{tenants.url}/ok").status_code == 200, "the server is down after the fuzz pass"
    bob = tenants.client("bob")

    async def bobs_data_is_intact() -> None:
        state = await bob.threads.get_state(bobs_data["thread_id"])
        assert "quokka" in str(state["values"]["messages"])
        assert (await bob.store.get_item(("acme", "user", "bob"), "/keep.md"))["value"]["content"] == "keep me"

    asyncio.run(bobs_data_is_intact())
    assert not API_FUZZ.server_errors, "\n".join(API_FUZZ.server_errors)
