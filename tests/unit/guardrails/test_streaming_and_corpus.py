"""The holdback buffer of the streaming PII filter, and the corpus both ways (no server)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deep_agent_service.guardrails.pii import PIIFilter
from deep_agent_service.guardrails.pii_detectors import DETECTORS
from deep_agent_service.guardrails.streaming import Holdback

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())
DEFAULT_RULES = [("secret", "redact"), ("email", "redact"), ("credit_card", "mask")]


def test_the_corpus_has_300_positives_and_300_benign_look_alikes() -> None:
    assert len(CORPUS["samples"]) >= 300 and len(CORPUS["benign"]) >= 300
    forms = {sample["form"] for sample in CORPUS["samples"]}
    assert {"obfuscated", "zero_width", "full_width", "spaced", "dashed"} <= forms


@pytest.mark.parametrize("sample", CORPUS["benign"], ids=lambda s: f"{s['kind']}:{s['text'][:16]}")
def test_no_benign_look_alike_is_flagged(sample: dict[str, str]) -> None:
    assert {t: [m["value"] for m in d(sample["text"])] for t, d in DETECTORS.items() if d(sample["text"])} == {}


@pytest.mark.parametrize("sample", CORPUS["samples"], ids=lambda s: f"{s['type']}:{s['value'][:12]}")
def test_every_positive_is_found_exactly_in_its_own_line(sample: dict[str, str]) -> None:
    assert [m["value"] for m in DETECTORS[sample["type"]](sample["text"])] == [sample["value"]]


def _stream(text: str, pieces: list[int], rules: list[tuple[str, str]] = DEFAULT_RULES) -> list[str]:
    holdback = Holdback(PIIFilter(rules), Counter())  # type: ignore[arg-type]
    out, position = [], 0
    for size in pieces:
        out.append(holdback.push(text[position : position + size]))
        position += size
    out.append(holdback.push(text[position:]))
    out.append(holdback.flush())
    return out


def test_text_streams_about_one_word_behind_and_matches_come_out_replaced() -> None:
    words = [
        "please",
        "write",
        "to",
        "dana",
        "(at)",
        "example",
        "(dot)",
        "com",
        "or",
        "pay",
        "4111",
        "1111",
        "1111",
        "1111",
        "now",
        "thanks",
    ]
    holdback = Holdback(PIIFilter(DEFAULT_RULES), Counter())  # type: ignore[arg-type]
    released = [holdback.push(word + " ") for word in words]
    assert released[:3] == ["", "please ", "write "]  # the last word waits for the next to start
    streamed = "".join(released) + holdback.flush()
    assert "dana" not in streamed and "4111 1111" not in streamed
    assert "[REDACTED_EMAIL]" in streamed and "**** **** **** 1111" in streamed


def test_a_private_key_is_held_until_its_end_line() -> None:
    key = next(s["value"] for s in CORPUS["samples"] if s["value"].startswith("-----BEGIN RSA"))
    out = _stream(f"here: {key} done", [7] + [5] * (len(key) // 5))
    assert "".join(out) == "here: [REDACTED_SECRET] done"
    assert not any("BEGIN" in piece for piece in out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=400))
def test_any_chunking_streams_exactly_what_filtering_the_whole_reply_gives(pieces: list[int]) -> None:
    samples = [s["value"] for s in CORPUS["samples"][::9] if s["type"] in {"email", "credit_card", "secret"}]
    text = " and ".join(samples) + " the end"
    assert "".join(_stream(text, pieces)) == PIIFilter(DEFAULT_RULES).text(text, Counter(), "test")  # type: ignore[arg-type]
