"""Cloud adapters: name/label/TTL mapping and error classification against each SDK's interface.

None of these services is reached from here (no network). The LangSmith SDK is a core dependency,
so its adapter is also driven end to end against an in-memory stand-in of `AsyncSandboxClient`
that raises the SDK's own exceptions. The Daytona / Modal / Runloop tests (error classification, and
every SDK call an adapter makes, checked against the SDK's signatures and models) need their extras,
which the test venv does not install (they would move httpx and OpenTelemetry for the whole suite):
they skip here, and tests/integration/test_cloud_extras.py runs this file in a venv with each extra
installed at its pyproject floor, where none may skip.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from langsmith import sandbox as ls

from deep_agent_service.sandboxes import daytona, langsmith, modal, runloop
from deep_agent_service.sandboxes.errors import SandboxGoneError, SandboxUnreachableError
from deep_agent_service.sandboxes.provider import SandboxScope, encode_name, sandbox_labels, sandbox_name

THREAD = "1f0c9a52-77aa-4bb0-9f55-0e7d2d1b8c3a"
LABELS = sandbox_labels("deep-agent", SandboxScope.THREAD, THREAD)


def _sdk(module: str, extra: str) -> Any:
    """The SDK module, or a skip where its extra is absent (the test venv); never skipped at the floors run."""
    reason = f"extra {extra} not in this venv (tests/integration/test_cloud_extras.py runs this with it)"
    return pytest.importorskip(module, reason=reason)


def test_names_are_deterministic_and_fit_every_provider() -> None:
    providers = (langsmith.LangSmithProvider, daytona.DaytonaProvider, modal.ModalProvider, runloop.RunloopProvider)
    for rules in (provider.name_rules for provider in providers):
        name = sandbox_name("deep-agent", SandboxScope.THREAD, THREAD, rules)
        assert name == f"deep-agent-thread-{THREAD}"[: rules.max_length] or len(name) <= rules.max_length
        assert set(name) <= rules.allowed and len(name) <= rules.max_length
        assert name == sandbox_name("deep-agent", SandboxScope.THREAD, THREAD, rules)


def test_encoding_never_merges_two_ids() -> None:
    names = {encode_name(raw) for raw in ("a|b", "a/b", "A-B", "a-b", "x" * 200, "x" * 201)}
    assert len(names) == 6
    assert all(len(name) <= 63 for name in names)


def test_langsmith_mapping() -> None:
    assert langsmith.create_params("n", LABELS, 900, snapshot="py311") == {
        "name": "n",
        "labels": LABELS,
        "idle_ttl_seconds": 900,
        "snapshot_name": "py311",
    }


def test_daytona_mapping() -> None:
    params = daytona.create_params("n", LABELS, 3600, snapshot="base", network=False)
    assert params["labels"] == LABELS and params["auto_stop_interval"] == 60 and params["network_block_all"]
    assert daytona.create_params("n", LABELS, 61)["auto_stop_interval"] == 2  # minutes, rounded up


def test_modal_mapping() -> None:
    params = modal.create_params("n", LABELS, 1800, network=True)
    assert params == {
        "name": "n",
        "tags": LABELS,
        "idle_timeout": 1800,
        "timeout": modal.MAX_LIFETIME_SECONDS,
        "block_network": False,
    }


def test_runloop_mapping() -> None:
    params = runloop.create_params("n", LABELS, 600, blueprint="bp")
    assert params["metadata"] == LABELS and params["idempotency_key"] == "n"
    assert params["launch_parameters"]["after_idle"] == {"idle_time_seconds": 600, "on_idle": "shutdown"}
    assert params["blueprint_name"] == "bp"


def test_langsmith_errors_are_classified() -> None:
    assert isinstance(
        langsmith.LangSmithProvider.classify(ls.ResourceNotFoundError("gone", "sandbox")), SandboxGoneError
    )
    assert isinstance(langsmith.LangSmithProvider.classify(ls.SandboxConnectionError("reset")), SandboxUnreachableError)
    assert isinstance(langsmith.LangSmithProvider.classify(TimeoutError()), SandboxUnreachableError)


def test_daytona_errors_are_classified() -> None:
    sdk = _sdk("daytona", "sandbox-daytona")
    assert isinstance(daytona.DaytonaProvider.classify(sdk.DaytonaNotFoundError("no such sandbox")), SandboxGoneError)
    assert isinstance(daytona.DaytonaProvider.classify(sdk.DaytonaConnectionError("down")), SandboxUnreachableError)
    sdk.CreateSandboxFromSnapshotParams(**daytona.create_params("n", LABELS, 600, snapshot="s"))  # SDK accepts it


def test_modal_errors_are_classified() -> None:
    exceptions = _sdk("modal.exception", "sandbox-modal")
    assert isinstance(modal.ModalProvider.classify(exceptions.NotFoundError("no such sandbox")), SandboxGoneError)
    assert isinstance(modal.ModalProvider.classify(exceptions.ConnectionError("down")), SandboxUnreachableError)


def test_runloop_errors_are_classified() -> None:
    sdk = _sdk("runloop_api_client", "sandbox-runloop")
    import httpx

    request = httpx.Request("GET", "http://runloop.invalid/devboxes/x")
    not_found = sdk.NotFoundError("missing", response=httpx.Response(404, request=request), body=None)
    assert isinstance(runloop.RunloopProvider.classify(not_found), SandboxGoneError)
    assert isinstance(
        runloop.RunloopProvider.classify(sdk.APIConnectionError(request=request)), SandboxUnreachableError
    )


def _accepts(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """The call `function(*args, **kwargs)` binds to the SDK's signature (TypeError names what does not)."""
    inspect.signature(function).bind(*args, **kwargs)


def test_daytona_sdk_has_what_the_adapter_calls() -> None:
    sdk = _sdk("daytona", "sandbox-daytona")
    from langchain_daytona import DaytonaSandbox

    params = daytona.create_params("n", LABELS, 60, snapshot="base", network=True)
    assert params.keys() <= sdk.CreateSandboxFromSnapshotParams.model_fields.keys()  # the model ignores unknowns
    client, box = object(), object()
    _accepts(sdk.Daytona.get, client, "name")
    _accepts(sdk.Daytona.create, client, sdk.CreateSandboxFromSnapshotParams(**params))
    _accepts(sdk.Daytona.delete, client, box)
    _accepts(sdk.Daytona.list, client)
    _accepts(DaytonaSandbox, sandbox=box)
    assert {"name", "id", "labels"} <= sdk.Sandbox.model_fields.keys()  # what `_boxes` reads


def test_modal_sdk_has_what_the_adapter_calls() -> None:
    sdk = _sdk("modal", "sandbox-modal")
    from langchain_modal import ModalSandbox

    _accepts(sdk.Sandbox.create, app=None, image=None, **modal.create_params("n", LABELS, 60, network=False))
    _accepts(sdk.Sandbox.from_name, "app", "name")
    _accepts(sdk.Sandbox.list, app_id="app-id", tags=LABELS)
    _accepts(sdk.App.lookup, "app", create_if_missing=True)
    _accepts(sdk.Image.from_registry, "python:3.11")
    _accepts(ModalSandbox, sandbox=object())
    assert all(hasattr(sdk.Sandbox, name) for name in ("terminate", "get_tags", "object_id"))


def test_runloop_sdk_has_what_the_adapter_calls() -> None:
    sdk = _sdk("runloop_api_client", "sandbox-runloop")
    from langchain_runloop import RunloopSandbox
    from runloop_api_client.types import DevboxView

    client = sdk.RunloopSDK(bearer_token="not-a-real-token")  # builds HTTP clients, calls nothing
    devboxes = client.api.devboxes
    _accepts(devboxes.create_and_await_running, **runloop.create_params("n", LABELS, 60, blueprint="bp"))
    _accepts(devboxes.list, status="running")
    _accepts(devboxes.shutdown, "devbox-id")
    _accepts(client.devbox.from_id, "devbox-id")
    _accepts(RunloopSandbox, devbox=object())
    assert {"name", "id", "metadata", "create_time_ms"} <= DevboxView.model_fields.keys()  # what `_boxes` reads


class _Box:
    def __init__(self, name: str, labels: dict[str, str]) -> None:
        self.name, self.labels, self.id, self.created_at = name, labels, f"id-{name}", "2026-01-01T00:00:00Z"

    def to_sync(self) -> Any:
        return ls.Sandbox(name=self.name, id=self.id)


class InMemoryLangSmith:
    """Stand-in for `AsyncSandboxClient`: same methods, the SDK's own exceptions; slow creates."""

    def __init__(self) -> None:
        self.boxes: dict[str, _Box] = {}
        self.created: list[dict[str, Any]] = []

    async def get_sandbox(self, name: str) -> _Box:
        if name not in self.boxes:
            raise ls.ResourceNotFoundError(f"sandbox {name} not found", "sandbox")
        return self.boxes[name]

    async def create_sandbox(self, **params: Any) -> _Box:
        await asyncio.sleep(0.01)
        if params["name"] in self.boxes:
            raise ls.ResourceNameConflictError(f"sandbox {params['name']} exists", "sandbox")
        self.created.append(params)
        self.boxes[params["name"]] = _Box(params["name"], params["labels"])
        return self.boxes[params["name"]]

    async def delete_sandbox(self, name: str) -> None:
        if self.boxes.pop(name, None) is None:
            raise ls.ResourceNotFoundError(f"sandbox {name} not found", "sandbox")

    async def list_sandboxes(self) -> list[_Box]:
        return list(self.boxes.values())


async def test_langsmith_adapter_create_race_lookup_list_and_delete() -> None:
    client = InMemoryLangSmith()
    provider = langsmith.LangSmithProvider(client, snapshot="py311")  # type: ignore[arg-type]
    name = sandbox_name("deep-agent", SandboxScope.THREAD, THREAD, provider.name_rules)
    results = await asyncio.gather(*(provider.get_or_create(name, LABELS, 600) for _ in range(5)))
    assert len(client.boxes) == 1 and len({r.sandbox.id for r in results}) == 1
    assert client.created[0]["idle_ttl_seconds"] == 600 and client.created[0]["labels"] == LABELS
    assert [info.name for info in await provider.list({"owner": THREAD})] == [name]
    assert await provider.list({"owner": "someone-else"}) == []
    assert await provider.delete(name) and not await provider.delete(name)
    assert await provider.get(name) is None
