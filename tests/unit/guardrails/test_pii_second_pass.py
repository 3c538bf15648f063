"""`PIIFilter.text` (one pass, then a second only on the windows around its replacements) gives
exactly what the filter gave before: full passes over the whole text until one finds nothing.

The reference below is that loop, kept verbatim; both use the same detectors (their own
equivalence is checked in `test_pii_fast_paths`, `test_pii_url` and `test_pii_email`).
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from bench.pii import ALL_TYPES, dense_text, transcript
from hypothesis import given, settings
from hypothesis import strategies as st

from deep_agent_service.guardrails import pii
from deep_agent_service.guardrails.pii import PIIBlockedError, PIIFilter

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())
TEXTS = [s["text"] for s in CORPUS["samples"]] + [b["text"] for b in CORPUS["benign"]]
VALUES = [s["value"] for s in CORPUS["samples"]]
RULES: list[list[tuple[str, Any]]] = [
    ALL_TYPES,
    [("url", "redact"), ("ip", "mask"), ("credit_card", "hash"), ("email", "mask"), ("secret", "hash")],
    [("email", "redact"), ("credit_card", "mask")],
    [("credit_card", "redact"), ("email", "redact")],
]


def reference_text(rules: list[tuple[str, Any]], content: str, counts: Counter[str], where: str = "test") -> str:
    """The filter's loop before the windowed second pass (full passes until one finds nothing)."""
    detectors = PIIFilter(rules)._detectors
    for _ in range(pii.MAX_PASSES):
        chosen: list[tuple[int, int, str]] = []
        taken: list[tuple[int, int]] = []
        for pii_type, detector, strategy in detectors:
            matches = detector(content)
            if not matches:
                continue
            if strategy == "block":
                raise PIIBlockedError(pii_type, len(matches), where)
            for match in matches:
                start, end = match["start"], match["end"]
                at = bisect.bisect_left(taken, (start, end))
                if (at and taken[at - 1][1] > start) or (at < len(taken) and taken[at][0] < end):
                    continue
                taken.insert(at, (start, end))
                counts[pii_type] += 1
                chosen.append((start, end, pii._replacement(match, strategy)))
        if not chosen:
            break
        parts: list[str] = []
        position = 0
        for start, end, replacement in sorted(chosen):
            parts += [content[position:start], replacement]
            position = end
        parts.append(content[position:])
        content = "".join(parts)
    return content


def _both(rules: list[tuple[str, Any]], text: str) -> None:
    expected_counts: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    try:
        expected: str | Exception = reference_text(rules, text, expected_counts)
    except PIIBlockedError as error:
        expected = error
    try:
        got: str | Exception = PIIFilter(rules).text(text, counts, "test")
    except PIIBlockedError as error:
        got = error
    if isinstance(expected, Exception):
        assert isinstance(got, PIIBlockedError) and str(got) == str(expected), text
    else:
        assert got == expected, text
        assert counts == expected_counts, text


@pytest.mark.parametrize("rules", RULES, ids=range(len(RULES)))
def test_the_filter_equals_full_passes_on_the_corpus_and_bench_texts(rules: list[tuple[str, Any]]) -> None:
    for text in [*TEXTS, "\n".join(TEXTS), " ".join(TEXTS), "".join(TEXTS), " ".join(VALUES), "".join(VALUES)]:
        _both(rules, text)
    for text in (transcript(), dense_text()):
        _both(rules, text)


def test_a_replacement_that_completes_another_match_is_caught_as_before() -> None:
    for text in [
        "a@b.travel4111 1111 1111 1111",
        "x a@b.travel4111 1111 1111 1111 y",
        "see a@b.travel4111 1111 1111 1111.",
    ]:
        _both(ALL_TYPES, text)
        _both([("email", "redact"), ("credit_card", "block")], text)
    assert "travel" not in PIIFilter(ALL_TYPES).text("a@b.travel4111 1111 1111 1111", Counter(), "test")


PIECES = [
    " ",
    "  ",
    "\n",
    "a",
    "Z",
    "x",
    "1",
    "4111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "378282246310005",
    ".",
    "-",
    "_",
    "/",
    ":",
    "@",
    " @ ",
    "(at)",
    "( dot )",
    "[at]",
    "\u200b",
    "\uff20",
    "\u3000",
    "b.travel",
    "example.com",
    "www.",
    "http://",
    "10.0.0.1",
    "::1",
    "fe80::",
    "sk-",
    "A1b2C3d4" * 3,
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "eyJ",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(VALUES)), max_size=40), st.sampled_from(RULES))
def test_the_filter_equals_full_passes_on_random_text(pieces: list[str], rules: list[tuple[str, Any]]) -> None:
    _both(rules, "".join(pieces))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_the_filter_equals_full_passes_on_random_near_misses(pieces: list[str]) -> None:
    _both(ALL_TYPES, "".join(pieces))


def _is_cut_by_definition(text: str, space: int) -> bool:
    """A space between two printable ASCII characters, not both digits, none of `@()[]{}<>`."""
    if space < 1 or space + 1 >= len(text) or text[space] != " ":
        return False
    before, after = text[space - 1], text[space + 1]
    side = {chr(code) for code in range(0x21, 0x7F)} - set("@()[]{}<>")
    return before in side and after in side and not (before.isdigit() and after.isdigit())


def test_the_cut_pattern_is_the_definition_of_a_cut() -> None:
    characters = [chr(code) for code in range(0x80)] + ["é", "\u200b", "\uff21", "\u0664", "\u3000"]
    for before in characters:
        for after in characters:
            for text, space in ((f"{before} {after}", 1), (f"ab{before} {after}cd", 3)):
                assert pii._is_cut(text, space) == _is_cut_by_definition(text, space), repr(text)
    assert not pii._is_cut(" x", 0) and not pii._is_cut("x ", 1)


def test_repeated_windows_are_scanned_once_and_decide_as_all_of_them() -> None:
    text = "the ** end the ** end the ** end"  # the last two pieces are one text: " the ** end"
    assert pii._windows(text, [(4, 6), (15, 17), (26, 28)]) == "the ** end x the ** end"
    for repeated in ("mail a@b.travel4111 1111 1111 1111 " * 5, "x a@b.co y " * 40 + "z 10.0.0.1 w " * 40):
        _both(ALL_TYPES, repeated)
