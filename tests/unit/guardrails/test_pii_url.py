"""Our `detect_url` finds exactly what langchain's finds: same values, spans and order."""

from __future__ import annotations

import json
from pathlib import Path

from bench.pii import dense_text, transcript
from hypothesis import given, settings
from hypothesis import strategies as st

from deep_agent_service.guardrails.pii_url import detect_url
from deep_agent_service.private_apis import detect_url as langchain_detect_url

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())
TEXTS = [s["text"] for s in CORPUS["samples"]] + [b["text"] for b in CORPUS["benign"]]
# Pieces the patterns hinge on: schemes, dots, slashes, word boundaries, whitespace, long labels.
PIECES = [
    "http://",
    "https://",
    "www.",
    "www",
    ".",
    "..",
    "/",
    "-",
    "_",
    "a",
    "Z",
    "9",
    "com",
    "example.org",
    " ",
    "\n",
    "\t",
    "\u00a0",
    "\u3000",
    "é",
    "<",
    '"',
    "[",
    "x" * 62,
    "y" * 70,
    "@",
    ":",
]


def test_equal_to_langchain_on_the_corpus() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), " ".join(TEXTS)]:
        assert detect_url(text) == langchain_detect_url(text), text


def test_equal_to_langchain_on_the_bench_texts() -> None:
    for text in (transcript(), dense_text()):
        assert detect_url(text) == langchain_detect_url(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_equal_to_langchain_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert detect_url(text) == langchain_detect_url(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1.-/: \nhtps w"), max_size=80))
def test_equal_to_langchain_on_random_characters(text: str) -> None:
    assert detect_url(text) == langchain_detect_url(text)
