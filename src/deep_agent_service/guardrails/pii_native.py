"""The compiled twin of the PII detectors' hot loops (`pii_scan.c`), when it is there and current.

`make setup` builds `_pii_scan` next to its source with the SHA-256 of that source inside. It is
used only when that digest is the digest of the `pii_scan.c` beside it: an extension built from an
older source is never run (its matches could differ), it is reported once and the Python detectors
run instead. Those are the reference: every function here returns exactly what its Python twin
returns (`tests/unit/guardrails/test_pii_native.py` compares them on the corpus, the bench texts
and generated texts), only faster on long texts.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("pii_scan.c")

Span = tuple[int, int]


class AsciiScan(NamedTuple):
    """What `_pii_scan.scan` finds in an ASCII text, each as its Python twin returns it."""

    secret_hints: list[int]  # pii_detectors._secret_hints
    emails: list[Span]  # pii_email.email_spans
    cards: list[Span]  # pii_detectors.python_card_spans
    ipv4: list[Span]  # pii_detectors.python_ipv4_spans
    ipv6_run_starts: list[int]  # pii_detectors.ipv6_run_starts
    scheme_urls: list[Span]  # pii_url.scheme_spans
    url_tokens: list[Span]  # pii_url.candidate_tokens, less those inside a URL with a scheme


def load() -> ModuleType | None:
    """`_pii_scan` if it was built from the `pii_scan.c` beside it, else None (said once, in the log)."""
    try:
        from deep_agent_service.guardrails import _pii_scan  # type: ignore[attr-defined]
    except ImportError:
        logger.info("the PII filter runs its Python detectors: _pii_scan is not built (make setup builds it)")
        return None
    expected = hashlib.sha256(SOURCE.read_bytes()).hexdigest() if SOURCE.exists() else "no source"
    if expected != _pii_scan.SOURCE_SHA256:
        logger.warning(
            "the PII filter runs its Python detectors: %s was built from another version of %s; "
            "run `make setup` to rebuild it",
            _pii_scan.__file__,
            SOURCE.name,
        )
        return None
    module: ModuleType = _pii_scan
    return module


NATIVE = load()


@functools.lru_cache(maxsize=32)  # the detectors of one filter pass share one scan (str hashes are cached)
def ascii_scan(text: str) -> AsciiScan | None:
    """Every detector's hot loop over `text` in one call, or None without the extension or for non-ASCII text."""
    if NATIVE is None or not text.isascii():
        return None
    return AsciiScan(*NATIVE.scan(text))


def native_normalize(text: str) -> tuple[str, list[int], list[tuple[int, int, bool]], bytes] | None:
    """`_pii_scan.normalize(text)`: `python_normalize`'s text, starts and segments, and those
    segments packed for `native_map_spans`; the caller checks `NATIVE` first."""
    assert NATIVE is not None
    return NATIVE.normalize(text)  # type: ignore[no-any-return]


def native_map_spans(packed: bytes, spans: list[Span]) -> list[Span]:
    """`Normalized.original_spans` in C, from the packed segments `native_normalize` returned."""
    assert NATIVE is not None
    return NATIVE.map_spans(packed, spans)  # type: ignore[no-any-return]


def native_windows(text: str, spans: list[Span]) -> str:
    """`pii._windows` in C; the caller checks `NATIVE` first."""
    assert NATIVE is not None
    return NATIVE.windows(text, spans)  # type: ignore[no-any-return]
