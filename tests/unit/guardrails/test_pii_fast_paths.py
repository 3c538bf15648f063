"""The candidate-first scans (`finditer_at`) find exactly what a plain `finditer` finds.

Over the corpus (positives and benign look-alikes), the corpus glued into one dense text, and
random text built from the characters and literals the patterns care about.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bench.pii import dense_text, transcript
from hypothesis import given, settings
from hypothesis import strategies as st

from deep_agent_service.guardrails import pii_detectors as d

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())
TEXTS = [s["text"] for s in CORPUS["samples"]] + [b["text"] for b in CORPUS["benign"]]
SCANS = [(d._SECRET_START, d._SECRET), (d._CHANGE_START, d._CHANGE)]
IPV4_REFERENCE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")  # the pattern before the fast path
# Pieces the patterns start or hinge on, so random text hits candidates and near misses often.
PIECES = [
    "sk-",
    "sk_",
    "rk_live_",
    "whsec_",
    "AKIA",
    "ASIA",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "AIza",
    "npm_",
    "hf_",
    "eyJ",
    ".",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "(at)",
    "[dot]",
    " @ ",
    "@",
    "\u200b",
    "\uff20",
    "a",
    "Z",
    "9",
    "_",
    "-",
    " ",
    "\n",
    "x" * 20,
    "A1b2C3d4" * 5,
    "1",
    "10",
    "255",
    "1.2.3.4",
]


def _spans(matches: object) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in matches]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("candidates", "pattern"), SCANS, ids=["secret", "normalize"])
def test_the_candidate_scan_equals_finditer_on_the_corpus(
    candidates: re.Pattern[str], pattern: re.Pattern[str]
) -> None:
    for text in [*TEXTS, "\n".join(TEXTS)]:
        assert _spans(d.finditer_at(candidates, pattern, text)) == _spans(pattern.finditer(text)), text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_the_candidate_scan_equals_finditer_on_random_dense_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    for candidates, pattern in SCANS:
        assert _spans(d.finditer_at(candidates, pattern, text)) == _spans(pattern.finditer(text))
    assert _spans(d._IPV4.finditer(text)) == _spans(IPV4_REFERENCE.finditer(text))


def test_the_digit_led_ipv4_pattern_equals_the_look_behind_one() -> None:
    samples = ["1.2.3.4", "a1.2.3.4", ".1.2.3.4", "v10.0.0.1.2", "x 255.255.255.255 y", "1.2.3.4.5", "12.34.56.78x"]
    for text in [*TEXTS, *samples, "\n".join(TEXTS)]:
        assert _spans(d._IPV4.finditer(text)) == _spans(IPV4_REFERENCE.finditer(text)), text


IPV6_PIECES = ["::", ":", "1", "ffff", "fe80", "a", "G", "g", "0db8", "x", " ", ".", "-", "12345", "2001:db8::1"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(IPV6_PIECES), max_size=40))
def test_the_ipv6_run_scan_equals_finditer_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert _spans(d._ipv6_matches(text, d.ipv6_run_starts(text))) == _spans(d._IPV6.finditer(text))


def test_the_ipv6_run_scan_equals_finditer_on_the_corpus() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), ":".join(TEXTS), transcript(), dense_text()]:
        assert _spans(d._ipv6_matches(text, d.ipv6_run_starts(text))) == _spans(d._IPV6.finditer(text)), text


IPV4_PIECES = ["1", "10", "255", "1234", ".", "..", "1.2.3.4", "a", "_", "-", " ", "\u0664", "v", "\n"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(IPV4_PIECES), max_size=40))
def test_the_ipv4_dot_scan_equals_finditer_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert _spans(d._ipv4_matches(text)) == _spans(d._IPV4.finditer(text))


def test_the_ipv4_dot_scan_equals_finditer_on_the_corpus_and_bench_texts() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), ".".join(TEXTS), transcript(), dense_text()]:
        assert _spans(d._ipv4_matches(text)) == _spans(d._IPV4.finditer(text)), text[:200]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_the_secret_hint_scan_equals_finditer_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    found = d.finditer_near(d._SECRET_HINT, d._SECRET_HINT_BACK, d._SECRET, text)
    assert _spans(found) == _spans(d._SECRET.finditer(text))


def test_the_secret_hint_scan_equals_finditer_on_the_corpus_and_bench_texts() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), "".join(TEXTS), transcript(), dense_text()]:
        found = d.finditer_near(d._SECRET_HINT, d._SECRET_HINT_BACK, d._SECRET, text)
        assert _spans(found) == _spans(d._SECRET.finditer(text)), text[:200]


CARD_PIECES = [
    "4",
    "1",
    "0",
    "1111",
    "4111",
    " ",
    "-",
    ".",
    "..",
    "a",
    "x",
    "\n",
    "4111 1111 1111 1111",
    "378282246310005",
]
CARD_PIECES += ["3782 822463 10005", "5555-5555-5555-4444", "4111.1111.1111.1111", "12345", "\u0664", "_"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(CARD_PIECES), max_size=40))
def test_the_digit_run_scan_equals_finditer_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert _spans(d._card_matches(text)) == _spans(d._CARD.finditer(text))
    ascii_text = text.replace("\u0664", "4")
    assert _spans(d._card_matches(ascii_text)) == _spans(d._CARD.finditer(ascii_text))


def test_the_digit_run_scan_equals_finditer_on_the_corpus_and_bench_texts() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), "".join(TEXTS), " ".join(TEXTS), transcript(), dense_text()]:
        for variant in (text, d.normalize(text).text if d.normalize(text) else text):
            assert _spans(d._card_matches(variant)) == _spans(d._CARD.finditer(variant)), variant[:200]


def _hint_starts(text: str) -> list[int]:
    """The hints a secret needs: `_SECRET_HINT`'s, with an `A` only where `AKIA`, `ASIA` or `AIza` starts."""
    hints = [hint.start() for hint in d._SECRET_HINT.finditer(text)]
    return [at for at in hints if text[at] != "A" or text[at : at + 4] in ("AKIA", "ASIA", "AIza")]


HINT_PIECES = [*PIECES, "k", "A", "K", "I", "S", "J", "z", "AIz", "-----BEGIN ", "----BEGIN "]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(HINT_PIECES), max_size=60))
def test_the_translated_secret_hints_equal_the_hint_pattern_on_random_ascii_text(pieces: list[str]) -> None:
    text = "".join(pieces).encode("ascii", "replace").decode("ascii")
    hints = d._secret_hints(text)
    assert hints == sorted(set(hints)) and set(_hint_starts(text)) <= set(hints)  # more hints only cost time
    assert _spans(d._secret_matches(text)) == _spans(d._SECRET.finditer(text))


def test_the_translated_secret_hints_equal_the_hint_pattern_on_the_corpus_and_bench_texts() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), "".join(TEXTS), transcript(), dense_text()]:
        read = d.normalize(text).text if d.normalize(text) else text
        for variant in (text, read):
            if variant.isascii():
                assert set(_hint_starts(variant)) <= set(d._secret_hints(variant)), variant[:200]
            assert _spans(d._secret_matches(variant)) == _spans(d._SECRET.finditer(variant)), variant[:200]


NORMALIZE_PIECES = [*PIECES, "[REDACTED_EMAIL]", "( at )", "{ DOT }", "<at>", "[x]", "\t", "\u3000@", "@\u3000", "a@b"]


class _EveryStart:
    """`_CHANGE` tried at every `_CHANGE_START`, in place of `normalize`'s one narrower scan."""

    @staticmethod
    def finditer(text: str) -> object:
        return d.finditer_at(d._CHANGE_START, d._CHANGE, text)


def _normalized_both_ways(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """`normalize` as it scans (`_CHANGE_SCAN`), and scanning every `_CHANGE_START` as before."""
    fast = d.python_normalize(text)
    with monkeypatch.context() as patch:
        patch.setattr(d, "_CHANGE_SCAN", _EveryStart)
        full = d.python_normalize(text)
    return fast, full


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(NORMALIZE_PIECES), max_size=60))
def test_normalizing_from_the_narrower_hints_equals_trying_every_start(pieces: list[str]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, full = _normalized_both_ways("".join(pieces), monkeypatch)
    assert fast == full


def test_normalizing_from_the_narrower_hints_equals_trying_every_start_on_the_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for text in [*TEXTS, "\n".join(TEXTS), "".join(TEXTS), transcript(), dense_text()]:
        fast, full = _normalized_both_ways(text, monkeypatch)
        assert fast == full, text[:200]
