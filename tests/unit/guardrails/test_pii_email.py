"""Our `detect_email` finds exactly what langchain's finds: same values, spans and order."""

from __future__ import annotations

import json
from pathlib import Path

from bench.pii import dense_text, transcript
from hypothesis import given, settings
from hypothesis import strategies as st

from deep_agent_service.guardrails.pii_email import detect_email
from deep_agent_service.private_apis import detect_email as langchain_detect_email

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())
TEXTS = [s["text"] for s in CORPUS["samples"]] + [b["text"] for b in CORPUS["benign"]]
PIECES = [
    "@",
    "@@",
    ".",
    "..",
    "-",
    "_",
    "%",
    "+",
    "|",
    "a",
    "Z",
    "9",
    "com",
    "io",
    "x",
    " ",
    "\n",
    "é",
    "ß",
    "/",
    "bob@example.org",
]


def test_equal_to_langchain_on_the_corpus_and_bench_texts() -> None:
    for text in [*TEXTS, "\n".join(TEXTS), "".join(TEXTS), transcript(), dense_text()]:
        assert detect_email(text) == langchain_detect_email(text), text[:200]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_equal_to_langchain_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert detect_email(text) == langchain_detect_email(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1.-_@ |é"), max_size=60))
def test_equal_to_langchain_on_random_characters(text: str) -> None:
    assert detect_email(text) == langchain_detect_email(text)
