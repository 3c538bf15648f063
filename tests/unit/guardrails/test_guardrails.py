"""Guardrails in process: detectors, retry classification, settings, and the real agent on the offline model."""

from __future__ import annotations

import email.utils
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from deepagents import create_deep_agent
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from deep_agent_service.assistant_settings import AssistantSettings
from deep_agent_service.builder import build_agent
from deep_agent_service.errors import ConfigurationError
from deep_agent_service.guardrails.assembly import middleware_for
from deep_agent_service.guardrails.budget_counters import LockedStoreCounter
from deep_agent_service.guardrails.budgets import ORG_KEY, TokenBudget, budget_namespace, today
from deep_agent_service.guardrails.config import GuardrailOverrides, RetryPolicy, resolve_config
from deep_agent_service.guardrails.pii import PIIFilter, PIIGuard
from deep_agent_service.guardrails.pii_detectors import DETECTORS
from deep_agent_service.guardrails.retry import TransientModelRetry, is_transient, retry_after_seconds
from deep_agent_service.memory.mounts import build_backend, mounts_for
from deep_agent_service.offline_model import OfflineChatModel
from deep_agent_service.settings import load_settings
from deep_agent_service.tenancy.identity import RunIdentity

CORPUS: list[dict[str, str]] = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())[
    "samples"
]


# --- detectors ---------------------------------------------------------------------------------


def test_the_corpus_has_at_least_50_samples_across_every_type() -> None:
    assert len(CORPUS) >= 50
    assert set(Counter(sample["type"] for sample in CORPUS)) == set(DETECTORS)


@pytest.mark.parametrize("sample", CORPUS, ids=lambda s: f"{s['type']}:{s['value'][:12]}")
def test_every_corpus_sample_is_found_by_its_detector_inside_prose(sample: dict[str, str]) -> None:
    text = f"Note for later: {sample['value']} (keep it safe)."
    assert [m["value"] for m in DETECTORS[sample["type"]](text)] == [sample["value"]]


def test_card_numbers_that_fail_luhn_and_ordinary_text_are_left_alone() -> None:
    benign = "Order 4111 1111 1111 1112 shipped at 12:30:45 on 2024-05-01, build 1.2.3, call 555-1234."
    pii = PIIFilter([(t, "redact") for t in DETECTORS])
    assert pii.text(benign, Counter(), "test") == benign


def test_strategies_apply_per_type() -> None:
    pii = PIIFilter([("email", "hash"), ("credit_card", "mask"), ("ip", "redact"), ("secret", "off")])
    counts: Counter[str] = Counter()
    out = pii.text("a@example.com 4111-1111-1111-1111 10.0.0.7 sk-" + "x" * 30, counts, "test")
    assert out.startswith("<email_hash:") and "****-****-****-1111" in out and "[REDACTED_IP]" in out
    assert "sk-" + "x" * 30 in out  # off: not touched
    assert counts == {"email": 1, "credit_card": 1, "ip": 1}


def test_a_value_hidden_next_to_another_is_filtered_in_the_same_call() -> None:
    """The email ends at a word boundary only once the card after it is replaced: one call gets both."""
    pii = PIIFilter([(t, "redact") for t in DETECTORS])
    counts: Counter[str] = Counter()
    out = pii.text("write to user_123@example.travel4000 0189 5559 7970 today", counts, "test")
    assert out == "write to [REDACTED_EMAIL][REDACTED_CREDIT_CARD] today"
    assert counts == {"email": 1, "credit_card": 1}


PIECES = [sample["value"] for sample in CORPUS] + [" ", "\n", "x", "42 ", "/", "?", "=", "-", ":", ".", "@", "http://"]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12),
    strategy=st.sampled_from(["redact", "mask", "hash"]),
)
def test_filtered_text_has_nothing_left_to_filter(pieces: list[str], strategy: str) -> None:
    """What the filter returns is clean: a fresh filter finds nothing in it (so it is safe to store,
    and safe for the filter to skip when the same text comes back in a later model request)."""
    text = "".join(pieces)
    once = PIIFilter([(t, strategy) for t in DETECTORS]).text(text, Counter(), "test")
    recount: Counter[str] = Counter()
    assert PIIFilter([(t, strategy) for t in DETECTORS]).text(once, recount, "test") == once
    assert recount == {}


def test_text_the_filter_returned_or_found_clean_is_not_scanned_again() -> None:
    scans: list[str] = []
    pii = PIIFilter([("email", "redact")])
    pii._detectors = [("email", lambda text: scans.append(text) or DETECTORS["email"](text), "redact")]  # type: ignore[misc]
    out = pii.text("mail a@example.com", Counter(), "test")
    pii.text("a clean note", Counter(), "test")
    scans.clear()
    assert pii.text(out, Counter(), "test") == out and pii.text("a clean note", Counter(), "test") == "a clean note"
    assert scans == []
    assert pii.text("mail b@example.com", Counter(), "test") == "mail [REDACTED_EMAIL]" and scans


# --- retry classification ------------------------------------------------------------------------


def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    cls = {429: openai.RateLimitError, 400: openai.BadRequestError, 401: openai.AuthenticationError}.get(
        status, openai.InternalServerError
    )
    return cls("injected", response=response, body=None)


def test_only_transient_errors_are_retried() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/")
    assert is_transient(_status_error(429))
    assert is_transient(_status_error(503))
    assert is_transient(openai.APIConnectionError(request=request))
    assert is_transient(openai.APITimeoutError(request=request))
    assert not is_transient(_status_error(400))
    assert not is_transient(_status_error(401))
    assert not is_transient(json.JSONDecodeError("bad", "{", 1))
    assert not is_transient(ValueError("a bug"))


def test_retry_after_is_read_as_seconds_or_http_date_and_raises_the_delay() -> None:
    assert retry_after_seconds(_status_error(429, {"retry-after": "2"})) == 2.0
    assert retry_after_seconds(_status_error(429, {"retry-after-ms": "250"})) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_seconds(_status_error(429, {"retry-after": later})) or 0) <= 30
    assert retry_after_seconds(_status_error(429)) is None
    retry = TransientModelRetry(RetryPolicy(3, initial_delay=0.1, backoff_factor=2, max_delay=5, budget_seconds=60))
    assert retry.next_delay(0, _status_error(429, {"retry-after": "3"})) == 3.0
    assert retry.next_delay(0, _status_error(429, {"retry-after": "60"})) == 5.0  # capped by max_delay
    assert retry.next_delay(0, _status_error(429)) < 0.2


# --- settings --------------------------------------------------------------------------------------


def test_guardrail_settings_parse_from_env_and_assistant_overrides_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOL_CALL_LIMITS", '{"task": {"run": 2, "thread": 5}}')
    monkeypatch.setenv("NETWORK_TOOLS", "fetch_url, search")
    monkeypatch.setenv("PII_EMAIL", "mask")
    settings = load_settings()
    config = resolve_config(settings, GuardrailOverrides(pii_email="block", model_call_run_limit=7))
    assert config.tool_call_limits == (("task", 2, 5),)
    assert config.network_tools == ("fetch_url", "search")
    # the shipped defaults (secret redact, card mask) with the assistant's override of the env's email strategy
    assert config.pii == (("secret", "redact"), ("email", "block"), ("credit_card", "mask"))
    assert config.model_call_run_limit == 7


def test_pii_ships_on_for_emails_cards_and_secrets_and_off_for_ips_and_urls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("PII_EMAIL", "PII_CREDIT_CARD", "PII_SECRET", "PII_IP", "PII_URL"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_config(load_settings()).pii == (("secret", "redact"), ("email", "redact"), ("credit_card", "mask"))
    for name in ("PII_EMAIL", "PII_CREDIT_CARD", "PII_SECRET"):
        monkeypatch.setenv(name, "off")
    # every type off: no PII middleware at all (and nothing filters the stream)
    assert resolve_config(load_settings()).pii == ()
    assert not [m for m in middleware_for(resolve_config(load_settings())) if isinstance(m, PIIGuard)]


@pytest.mark.parametrize(
    ("variable", "value"), [("PII_EMAIL", "shred"), ("MODEL_CALL_RUN_LIMIT", "-1"), ("TOOL_CALL_LIMITS", "{")]
)
def test_bad_guardrail_settings_fail_at_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


# --- the real agent on the offline model ----------------------------------------------------------

ALICE = {"identity": "alice", "org": "acme", "role": "member"}
BOB = {"identity": "bob", "org": "acme", "role": "member"}
CAROL = {"identity": "carol", "org": "acme", "role": "member"}


async def _say(graph: Any, text: str, user: dict[str, str], thread: str) -> str:
    configurable = {"thread_id": thread, "assistant_id": "asst", "langgraph_auth_user": user}
    result = await graph.ainvoke({"messages": [{"role": "user", "content": text}]}, {"configurable": configurable})
    return str(result["messages"][-1].content)


async def test_offline_model_with_pii_on_never_stores_the_raw_value() -> None:
    store = InMemoryStore()
    settings = AssistantSettings(guardrails=GuardrailOverrides(pii_email="redact"))
    graph = build_agent(settings).copy(update={"store": store, "checkpointer": InMemorySaver()})
    reply = await _say(graph, "remember my email is jane.doe@example.com", ALICE, "t1")
    assert reply == "I will remember: my email is [REDACTED_EMAIL]"
    item = store.get(("acme", "private", "asst", "alice"), "/notes.md")
    assert item is not None and item.value["content"] == "my email is [REDACTED_EMAIL]\n"


def _branches_after_before_agent(settings: AssistantSettings) -> bool:
    edges = build_agent(settings).get_graph().edges
    return any(edge.conditional for edge in edges if edge.source == "DeepAgentService.before_agent")


async def test_only_a_block_rule_lets_the_user_message_end_the_run_before_the_model() -> None:
    """A branch after `before_agent` is evaluated on every run: it is there only when a rule blocks."""
    assert not _branches_after_before_agent(AssistantSettings(guardrails=GuardrailOverrides(pii_email="redact")))
    blocking = AssistantSettings(guardrails=GuardrailOverrides(pii_email="block"))
    assert _branches_after_before_agent(blocking)
    graph = build_agent(blocking).copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})
    reply = await _say(graph, "remember my email is jane.doe@example.com", ALICE, "t1")
    assert reply.startswith("Stopped: blocked: the user message contained 1 email value(s)")
    state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
    assert "jane.doe@example.com" not in repr(state.values["messages"])


async def test_offline_model_stops_at_the_model_call_limit() -> None:
    settings = AssistantSettings(guardrails=GuardrailOverrides(model_call_run_limit=1))
    graph = build_agent(settings).copy(update={"store": InMemoryStore(), "checkpointer": InMemorySaver()})
    reply = await _say(graph, "remember tea", ALICE, "t1")  # needs read + write + confirm = 3 calls
    assert "limit of 1 model calls" in reply


class _WritesFailFromNowOn(InMemoryStore):
    """The store goes down for writes while a model call is in flight (its settle fails)."""

    failing = False

    async def abatch(self, ops: Any) -> Any:
        ops = list(ops)
        if self.failing and any(type(op).__name__ == "PutOp" for op in ops):
            raise ConnectionError("connection to the store was reset")
        return await super().abatch(ops)


class _StoreGoesDownDuringTheCall(AgentMiddleware[Any, Any, Any]):
    def __init__(self, store: _WritesFailFromNowOn) -> None:
        super().__init__()
        self.store = store

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self.store.failing = True
        return await handler(request)


async def test_an_answer_the_budget_cannot_charge_is_kept_and_its_hold_lapses() -> None:
    """The provider has answered (and charged) when the settle fails: failing the run would lose
    the answer without un-spending it, and a fallback would call a second model. The answer is
    kept, the trip reported; the call's hold counts until it lapses."""
    store = _WritesFailFromNowOn()
    budget = TokenBudget(user_daily=10**9, org_daily=0, reservation_seconds=900)
    agent = create_agent(model=OfflineChatModel(), middleware=[budget, _StoreGoesDownDuringTheCall(store)])
    graph = agent.copy(update={"store": store, "checkpointer": InMemorySaver()})

    assert "offline model" in await _say(graph, "hi", ALICE, "unsettled")
    store.failing = False
    counter, namespace = LockedStoreCounter(store), budget_namespace(RunIdentity(org="acme", user="alice"), today())
    held = await counter.used(namespace, "user:alice", now=time.time())
    assert held > 0, "the call's estimate stays held"
    assert await counter.used(namespace, "user:alice", now=time.time() + 901) == 0


async def test_budgets_are_per_user_and_per_org_in_the_store() -> None:
    store = InMemoryStore()
    budget = TokenBudget(user_daily=1, org_daily=10**9, reservation_seconds=900)
    agent = create_deep_agent(
        model=OfflineChatModel(), middleware=[budget], backend=build_backend(mounts_for(("memories",)))
    )
    graph = agent.copy(update={"store": store, "checkpointer": InMemorySaver()})

    assert "offline model" in await _say(graph, "hi", ALICE, "a1")  # the first call of the day is allowed
    refused = await _say(graph, "hi again", ALICE, "a2")
    assert "your daily token budget is used up" in refused and "TOKEN_BUDGET_USER_DAILY" in refused
    assert "offline model" in await _say(graph, "hi", BOB, "b1")  # same org, own budget

    # The org's tokens (spent by everyone, on every replica) are one store item: once it is spent ...
    namespace = budget_namespace(RunIdentity(org="acme", user="carol"), today())
    await store.aput(namespace, ORG_KEY, {"tokens": 10**9})
    refused = await _say(graph, "hi", CAROL, "c1")
    assert "your organization's daily token budget is used up" in refused
