"""The compiled PII loops (`_pii_scan`, built from `pii_scan.c`) return what their Python twins return.

Differential: every compiled function against the Python function it replaces, and the whole
filter with the extension against the filter without it, on the corpus (positives and benign
look-alikes), the bench's transcript and PII-dense text, and generated text made of the pieces the
detectors hinge on (secret prefixes, card and IP digits, separators, obfuscation markers,
full-width and invisible characters, non-ASCII letters). A difference is a bug in the C twin (or
a Python change it did not follow): the filter's output must not depend on whether it was built.

Without the extension these tests skip; in CI (`make setup` builds it) a missing build fails them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from bench.pii import ALL_TYPES, dense_text, transcript
from hypothesis import given, settings
from hypothesis import strategies as st

from deep_agent_service.guardrails import pii, pii_detectors, pii_native
from deep_agent_service.guardrails.pii_email import email_spans
from deep_agent_service.guardrails.pii_url import candidate_tokens, scheme_spans
from tests.support.services import require

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "pii_corpus.json").read_text())
TEXTS = [s["text"] for s in CORPUS["samples"]] + [b["text"] for b in CORPUS["benign"]]
BIG = [dense_text(64 * 1024), transcript(64 * 1024)]
PIECES = [
    *("sk-", "sk_live_", "whsec_", "AKIA", "ASIA", "AIza", "AIz", "AKz", "ghp_", "xoxb-", "hf_", "eyJ", "J", "A", "a-"),
    *("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "-----BEGIN "),
    *("4111", "1111", "378282", "0005", "6011", "5555", "42", "0", "9", "1.2.3.4", "255.", "01.", "10.0.0.1"),
    *("::", ":", "fe80", "2001:db8", ":1:", "ab:cd:", ":abcde:"),
    *(
        "http://",
        "https://",
        "http:///",
        "https://?",
        "http://#",
        "#",
        ":80",
        "www.",
        "/",
        "a.b",
        ".co",
        ".org/x",
        "example",
        "//",
    ),
    *("@", " @ ", "a@b.c", "bob", ".", "-", "_", "|", "%", "+", "x" * 12, "A1b2C3d4" * 4),
    *(" ", "  ", "\n", "\t", "\x1c", "\x7f", "\x00", '"', "<", ">", "[", "]", "{", "}", "(", ")", "\\", "^", "`"),
    *("(at)", "[ dot ]", "{AT}", "<Dot>", "( at", "dot)", "[REDACTED_EMAIL]", "<ip_hash:ab12>", "****-1111"),
    *("\u200b", "\u00ad", "\ufeff", "\u2060", "\uff20", "\uff41\uff42", "\uff10\uff11", "\u3000", "\u3000@"),
    *("é", "ß", "٣", "²", "Ⅻ", "中文", "\U0001f600", "\u0660"),
]


def _luhn_completed(digits: list[int]) -> list[int]:
    """`digits` and the check digit that makes them pass the Luhn check."""
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return [*digits, (10 - total % 10) % 10]


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of 12-20 digits (an issuer's first digit, mostly), grouped as cards are
    written or nearly: fours with one separator, Amex 4-6-5, a short or long last group, mixed separators."""
    length = draw(st.integers(11, 19))
    first = draw(st.sampled_from([2, 3, 4, 5, 6, 6, 1, 9]))
    digits = _luhn_completed([first, *draw(st.lists(st.integers(0, 9), min_size=length, max_size=length))])
    number = "".join(map(str, digits))
    separator = draw(st.sampled_from(["", " ", "-", ".", "  ", "_"]))
    widths = draw(st.sampled_from([[4] * 5, [4, 6, 5], [4, 4, 4, 4, 3], [4, 4, 4, 3, 4], [3, 4, 4, 4, 4]]))
    groups, position = [], 0
    for width in widths:
        if position < len(number):
            groups.append(number[position : position + width])
            position += width
    groups[-1] += number[position:]
    if draw(st.booleans()):
        separators = [draw(st.sampled_from([separator, " ", "-", "."])) for _ in groups[1:]]
        return groups[0] + "".join(sep + group for sep, group in zip(separators, groups[1:], strict=True))
    return separator.join(groups)


text_pieces = st.one_of(st.sampled_from(PIECES), card_numbers())
pieces = st.lists(text_pieces, max_size=80).map("".join)


def _built() -> ModuleType:
    """The extension; a skip without it (a failure in CI, where `make setup` builds it)."""
    require(pii_native.NATIVE is not None, "the _pii_scan extension is not built (make setup builds it with cc)")
    assert pii_native.NATIVE is not None
    return pii_native.NATIVE


@pytest.fixture(scope="module")
def native() -> ModuleType:
    return _built()


def python_scan(text: str) -> pii_native.AsciiScan:
    """What `_pii_scan.scan` must return, from the Python detectors."""
    schemes = scheme_spans(text)
    tokens = [t for t in candidate_tokens(text) if not any(s <= t[0] and t[1] <= e for s, e in schemes)]
    return pii_native.AsciiScan(
        pii_detectors._secret_hints(text),
        email_spans(text),
        pii_detectors.python_card_spans(text),
        pii_detectors.python_ipv4_spans(text),
        pii_detectors.ipv6_run_starts(text),
        schemes,
        tokens,
    )


def _as_read(text: str) -> str:
    normalized = pii_detectors.python_normalize(text)
    return text if normalized is None else normalized.text


def check_normalize(native: ModuleType, text: str) -> None:
    expected = pii_detectors.python_normalize(text)
    found = native.normalize(text)
    if expected is None:
        assert found is None, text
        return
    assert found is not None, text
    assert found[:3] == (expected.text, expected.starts, expected.segments), text
    # every span of the normalised text maps back to the same original span
    length = len(expected.text)
    spans = [(start, end) for start in range(length) for end in (start + 1, min(length, start + 9)) if end > start]
    compiled = pii_detectors.Normalized(*found)
    assert compiled.original_spans(spans) == expected.original_spans(spans), text


def check_scan(native: ModuleType, text: str) -> None:
    read = _as_read(text)
    if read.isascii():
        assert pii_native.AsciiScan(*native.scan(read)) == python_scan(read), read


def check_windows(native: ModuleType, text: str) -> None:
    chosen = pii.PIIFilter(ALL_TYPES)._pass(text, Counter(), "test")
    replaced, spans = pii._replaced(text, chosen)
    assert native.windows(replaced, spans) == pii.python_windows(replaced, spans), text
    every_other = spans[::2]  # other replacements sets: the cut search between far-apart spans
    assert native.windows(replaced, every_other) == pii.python_windows(replaced, every_other), text


@pytest.fixture
def python_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The detectors as they run without the extension (the compiled functions never called)."""
    pii_detectors.normalize.cache_clear()
    pii_native.ascii_scan.cache_clear()
    monkeypatch.setattr(pii_native, "NATIVE", None)
    monkeypatch.setattr(pii_detectors, "NATIVE", None)
    monkeypatch.setattr(pii, "NATIVE", None)
    yield
    pii_detectors.normalize.cache_clear()
    pii_native.ascii_scan.cache_clear()


def _filtered(texts: list[str]) -> list[tuple[str, Counter[str]]]:
    results = []
    for text in texts:
        counts: Counter[str] = Counter()
        results.append((pii.PIIFilter(ALL_TYPES).text(text, counts, "test"), counts))
    return results


def check_all(native: ModuleType, text: str) -> None:
    check_normalize(native, text)
    check_scan(native, text)
    check_windows(native, text)


@pytest.mark.parametrize("text", TEXTS + BIG)
def test_the_compiled_functions_return_what_the_python_ones_do_on_the_corpus(native: ModuleType, text: str) -> None:
    check_all(native, text)


@settings(max_examples=5000, deadline=None)
@given(pieces)
def test_the_compiled_functions_return_what_the_python_ones_do_on_generated_text(text: str) -> None:
    check_all(_built(), text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=300))
def test_the_compiled_functions_return_what_the_python_ones_do_on_arbitrary_ascii(text: str) -> None:
    check_all(_built(), text)


def test_the_filter_replaces_the_same_values_with_and_without_the_extension(
    native: ModuleType, request: pytest.FixtureRequest
) -> None:
    texts = [*TEXTS, *BIG, "4111 1111 1111 1111 and a@b.travel4111 1111 1111 1111 and ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com"]
    pii_detectors.normalize.cache_clear()
    pii_native.ascii_scan.cache_clear()
    compiled = _filtered(texts)
    request.getfixturevalue("python_only")
    assert _filtered(texts) == compiled
    assert sum(sum(counts.values()) for _, counts in compiled) > 500  # it did replace things


def test_the_compiled_functions_refuse_what_they_cannot_read(native: ModuleType) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        native.scan("caf\u00e9 4111 1111 1111 1111")
    with pytest.raises(TypeError, match="map_spans"):
        native.map_spans("not packed", [(0, 1)])
    with pytest.raises(TypeError, match="windows"):
        native.windows(b"not a str", [(0, 1)])


def test_an_extension_built_from_another_source_is_not_used(
    native: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert hashlib.sha256(pii_native.SOURCE.read_bytes()).hexdigest() == native.SOURCE_SHA256
    changed = tmp_path / "pii_scan.c"
    changed.write_bytes(pii_native.SOURCE.read_bytes() + b"/* changed */\n")
    monkeypatch.setattr(pii_native, "SOURCE", changed)
    with caplog.at_level(logging.WARNING, logger=pii_native.__name__):
        assert pii_native.load() is None
    assert "make setup" in caplog.text


# Run in a child process with the sanitised build in place of the real one: this file's other tests.
_UNDER_SANITIZERS = """
import importlib.util, sys
import pytest
from deep_agent_service.guardrails import pii, pii_detectors, pii_native
spec = importlib.util.spec_from_file_location("_pii_scan", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
pii_native.NATIVE = pii_detectors.NATIVE = pii.NATIVE = module
sys.exit(pytest.main([sys.argv[2], "-q", "-x", "-p", "no:cacheprovider", "-k", "not sanitizers"]))
"""


def _runtime_library(name: str) -> str | None:
    found = subprocess.run(["cc", f"-print-file-name={name}"], capture_output=True, text=True, check=False).stdout
    found = found.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


def test_the_compiled_loops_read_and_write_in_bounds_under_the_sanitizers(native: ModuleType, tmp_path: Path) -> None:
    """The C reads text an attacker writes: every test above, again, on a build with AddressSanitizer
    and UndefinedBehaviorSanitizer (Python's allocator off, so every object is a malloc block the
    sanitizer guards); an out-of-bounds access or undefined behaviour aborts the child."""
    libraries = [_runtime_library("libasan.so"), _runtime_library("libubsan.so")] if shutil.which("cc") else []
    require(all(libraries) and bool(libraries), "cc with AddressSanitizer and UBSan (gcc, libasan) is needed")
    built = tmp_path / "_pii_scan.so"
    subprocess.run(
        [
            *("cc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"),
            *("-fno-omit-frame-pointer", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}"),
            f'-DSOURCE_SHA256="{native.SOURCE_SHA256}"',
            *("-o", str(built), str(pii_native.SOURCE)),
        ],
        check=True,
    )
    env = {
        **os.environ,
        "LD_PRELOAD": ":".join(str(library) for library in libraries),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1",
        "PYTHONMALLOC": "malloc",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    child = subprocess.run(
        [sys.executable, "-c", _UNDER_SANITIZERS, str(built), __file__],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == 0, child.stderr[:3000] + child.stdout[-1000:]  # the sanitizer report comes first
    assert " passed" in child.stdout
