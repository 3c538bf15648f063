"""Detectors for the PII guardrail. Each returns langchain `PIIMatch` lists (type, value, start, end).

Every detector sees the text through `normalize` first, so the usual ways of hiding a value from a
regex do not work: zero-width characters (U+200B-U+200D, U+2060, U+FEFF, soft hyphens) are
dropped, full-width forms (U+FF01-U+FF5E: full-width letters, digits and `@`) read as ASCII, and the bracketed
obfuscations `(at)` / `[at]` / `{at}` and `(dot)` / `[dot]` (and a spaced ` @ `) read as `@` and
`.`. Matches are mapped back to the ORIGINAL text, so a replacement covers exactly the obfuscated
span. Texts with none of those characters skip the normalising pass (one regex scan, led by a
character class).
On ASCII text (after normalising), card and secret candidates are found with `bytes.translate`
and literal searches instead of a regex tried at every digit or hint letter (same matches).

- emails: langchain's pattern (its matches, found faster: `pii_email`), on the normalised text;
- cards: 13-19 digits in groups (one consistent separator: space, dash or dot; or Amex 4-6-5), an
  issuer prefix (2-6: Mastercard, Visa, Amex, Discover, JCB, UnionPay...) and the Luhn check; a
  run of one repeated digit (`CapInh: 0000000000000000`) is never a card;
- IPs: IPv4 (langchain's) and IPv6 (validated with `ipaddress`);
- URLs: langchain's (its matches, found faster: `pii_url`);
- secrets: API-key shapes (OpenAI/Anthropic `sk-`, Stripe `sk_live_`/`rk_live_`/`whsec_`, AWS
  `AKIA`/`ASIA`, GitHub `ghp_`/`github_pat_`, GitLab `glpat-`, Slack `xox?-`, Google `AIza`,
  npm, Hugging Face), JWTs and PEM private-key blocks.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from deep_agent_service.guardrails.pii_email import email_spans
from deep_agent_service.guardrails.pii_native import NATIVE, ascii_scan, native_map_spans, native_normalize
from deep_agent_service.guardrails.pii_url import url_spans, urls_from
from deep_agent_service.private_apis import PIIMatch, passes_luhn


def finditer_at(candidates: re.Pattern[str], pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)`, trying `pattern` only where `candidates` finds a start.

    Equal to `finditer` when every match of `pattern` starts where `candidates` matches and
    `pattern` never matches empty. Python's `re` skips through text fast for a leading literal or
    character set, but tries a pattern led by a look-around, `\\b` or a group of alternatives at
    every position; this is the ~10x on prose. `match` at a position still sees the text before it,
    so look-behinds and `\\b` behave as in `finditer`.
    """
    position = 0
    while candidate := candidates.search(text, position):
        match = pattern.match(text, candidate.start())
        if match:
            yield match
            position = match.end()
        else:
            position = candidate.start() + 1


def finditer_near(hints: re.Pattern[str], back: int, pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)`, trying `pattern` only at the `back` positions before each hint.

    Equal to `finditer` when every match of `pattern` starts at most `back` characters before a
    `hints` match (non-overlapping hints) and `pattern` never matches empty: the positions tried
    are, in order, every position a match can start at.
    """
    return finditer_before((hint.start() for hint in hints.finditer(text)), back, pattern, text)


def finditer_before(hints: Iterable[int], back: int, pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """`finditer_near` with the hints given as their (increasing) start positions."""
    position = 0  # every position before this was tried, or lies inside a match found
    for hint in hints:
        at = max(position, hint - back)
        while at <= hint:
            match = pattern.match(text, at)
            if match:
                yield match
                at = position = match.end()
            else:
                at += 1
        position = max(position, hint + 1)


def _ascii_table(classes: dict[str, str]) -> bytes:
    """A `bytes.translate` table: each character of a key to its value, every other byte to a space."""
    table = bytearray(b" " * 256)
    for characters, mark in classes.items():
        for character in characters:
            table[ord(character)] = ord(mark)
    return bytes(table)


def _starts(literal: bytes, data: bytes, shift: int = 0) -> list[int]:
    """Where `literal` occurs in `data` (it cannot overlap itself), plus `shift`.

    `bytes.find` from one to the next: for a rare literal, ~10x faster than `re` over the text.
    """
    found = []
    at = data.find(literal)
    while at != -1:
        found.append(at + shift)
        at = data.find(literal, at + len(literal))
    return found


# One alternation, so a text is scanned once for every secret shape.
_SECRET = re.compile(
    r"(?=[-sArgxenhwA])(?:"  # every shape starts with one of these: fail fast everywhere else
    + "|".join(
        (
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
            r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{20,}",  # OpenAI / Anthropic style (sk-, sk-proj-, sk-ant-api03-)
            r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe secret and restricted keys
            r"\bwhsec_[A-Za-z0-9]{24,}",  # Stripe webhook secrets
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
            r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
            r"\bglpat-[A-Za-z0-9_-]{20,}",  # GitLab personal access tokens
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack tokens
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API keys
            r"\bnpm_[A-Za-z0-9]{36}\b",  # npm tokens
            r"\bhf_[A-Za-z0-9]{34,}\b",  # Hugging Face tokens
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs
        )
    )
    + ")"
)
# Every secret shape starts with one of these literals. Python's `re` scans for a literal alternation
# fast (a first-character set), while `_SECRET` pays its look-ahead and `\b` at every position.
# The detector now uses the faster `_SECRET_HINT` below; this stays as the list of shape starts the
# fast-path tests check `finditer_at` with.
_SECRET_START = re.compile(
    r"-----BEGIN |sk-|sk_|rk_|whsec_|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AIza|npm_|hf_|eyJ"
)
# Still, `_SECRET_START` starts with common letters (s, r, w, g, x, n, h, e). Every shape holds one
# of these rarer hints at most 6 after its start: its first `-` or `_` after the letter before it
# (`sk-`, `whsec_`, `github_pat_`'s `b_`...), `eyJ`'s `J`, the `A` of `AKIA`/`ASIA`/`AIza`, a PEM
# block's first dash. `finditer_near` tries `_SECRET` only there (prose's `follow-up` is no hint).
# One leading character class (not an alternation), so `re` skips to those characters fast.
_SECRET_HINT = re.compile(r"[-_JA](?:(?<=-)(?=----BEGIN )|(?<=[kctbmfpousra][-_])|(?<=J)|(?<=A)(?=[KSI]))")
_SECRET_HINT_BACK = 6
# On ASCII text the hints are found without `re` trying a pattern at every `-`, `_`, `J` and `A`:
# one `bytes.translate` to classes (`k` for the letters before a `-`/`_`, `-` for both of those,
# `K` for K, S and I), then a literal-led search per hint shape (`_secret_hints`). The `A` hint is
# narrower there: the whole `AKIA`/`ASIA`/`AIza` (so `[REDACTED_EMAIL]`'s `AI` is no hint).
_SECRET_CLASSES = _ascii_table({"kctbmfpousra": "k", "-_": "-", "J": "J", "A": "A", "KSI": "K", "z": "z"})
_SECRET_A_HINT = re.compile(b"A(?=KKA|Kzk)")
# The `-` of each `k-`: led by the rarer `-` (letters are mostly `k`), which `re` skips to fast.
_SECRET_DASH_HINT = re.compile(b"-(?<=k-)")
# 13-19 digits in groups of four (or Amex 4-6-5), one consistent separator: a card next to another
# number ("4111-1111-1111-1111 10") must not swallow it and then fail the Luhn check.
# It starts with `\d` (then looks behind the first digit), so the regex engine skips to digits instead of
# trying the look-behind at every position: ~5x faster on prose.
_CARD = re.compile(
    r"\d(?<![\d.-]\d)(?:\d{3}([ .-]?)\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|\d{3}([ .-]?)\d{6}\2\d{5})(?!\d|[.-]\d)"
)
_ISSUER_DIGITS = frozenset("23456")
_DIGIT_CLASSES = _ascii_table({"0123456789": "0"})
# Where a run of 4+ digits starts (digits translated to `0`): led by the literal, so `re` skips fast.
_RUN_START = re.compile(b"0000(?<!00000)")
# IPv4 not inside a longer dotted number (`release 1.2.3.4.5`, `v10.0.0.1.2` are versions).
# It starts with `\d` and looks behind that digit (as `_CARD` does), so the scan skips to digits.
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
# Every IPv4 match's first dot follows its first 1-3 digits and precedes a digit: a literal-led scan
# for that dot finds candidates faster than `\d` scans every digit of the text (`_ipv4_matches`).
_IPV4_DOT = re.compile(r"\.\d")
# The host of a URL without a scheme ends in a letters-only top-level label (`python3.12/...` is a path).
_BARE_HOST_END = re.compile(r"\.[A-Za-z]{2,63}$")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
# Every IPv6 address has two colons at most four hex digits apart; prose ("at 10:30", "Note:") rarely
# does, and this literal-first pattern finds them fast (`_ipv6_matches`).
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_HEX_OR_COLON = frozenset("0123456789ABCDEFabcdef:")
_HEX_OR_COLON_RUN = re.compile(r"[0-9A-Fa-f:]*")

# --- normalising ------------------------------------------------------------------------------

_FULL_WIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# What normalising changes: runs of invisible characters (dropped), runs of full-width forms (read
# as ASCII, one for one) and obfuscation markers (read as `@` or `.`).
# Each alternative starts with a literal character class (no leading `\\s*`), so the scan skips
# through plain text fast; the whitespace around a marker is taken in by `_widened`.
_CHANGE = re.compile(
    "(?P<invisible>[\u200b-\u200d\u2060\ufeff\u00ad]+)|(?P<wide>[\uff01-\uff5e\u3000]+)"
    "|[(\\[{<]\\s*(?P<word>[aA][tT]|[dD][oO][tT])\\s*[)\\]}>]|(?P<sign>@)",
)
# The first character of every `_CHANGE` alternative, for `finditer_at`.
_CHANGE_START = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad\uff01-\uff5e\u3000(\\[{<@]")
# What `normalize` scans with: `_CHANGE`'s matches, less those that change nothing (a bracket not
# followed by `at`/`dot`, as in `[REDACTED_EMAIL]`; an `@` with no whitespace beside it, as in
# `bob@example.com`, where widening takes in nothing), in ONE `finditer`: `_CHANGE_START`'s leading
# class (so `re` skips through plain text fast), then each alternative's rest behind a look-behind
# on that first character. Trying `_CHANGE` at each start from Python (`finditer_at`) cost twice as
# much on a PII-dense text, where obfuscated values come every few hundred characters.
_CHANGE_SCAN = re.compile(
    "[\u200b-\u200d\u2060\ufeff\u00ad\uff01-\uff5e\u3000(\\[{<@]"
    "(?:(?<=[\u200b-\u200d\u2060\ufeff\u00ad])[\u200b-\u200d\u2060\ufeff\u00ad]*"
    "|(?<=[\uff01-\uff5e\u3000])[\uff01-\uff5e\u3000]*"
    "|(?<=[(\\[{<])\\s*(?:[aA][tT]|[dD][oO][tT])\\s*[)\\]}>]"
    "|(?<=\\s@)|(?<=@)(?=\\s))"
)
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
_BRACKETS = frozenset("([{<")


def _widened(text: str, start: int, end: int, floor: int) -> tuple[int, int]:
    """A marker's span with the spaces around it (not before `floor`, the end of the last change)."""
    while start > floor and text[start - 1].isspace():
        start -= 1
    while end < len(text) and text[end].isspace():
        end += 1
    return start, end


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text and, per segment, where it came from (copied one for one, or replaced whole)."""

    text: str
    starts: list[int]  # normalised start of each segment
    segments: list[tuple[int, int, bool]]  # (original start, original end, copied one for one)
    packed: bytes | None = None  # the same segments for the compiled `original_spans`, when it made them

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.original_spans([(start, end)])[0]

    def original_spans(self, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Each (start, end) of the normalised text as the span of the original it was read from."""
        if self.packed is not None:
            return native_map_spans(self.packed, spans if isinstance(spans, list) else list(spans))
        starts, segments, find = self.starts, self.segments, bisect.bisect_right
        count = len(starts)
        mapped = []
        for start, end in spans:  # one loop for a detector's matches: dense text has thousands
            first = find(starts, start) - 1
            # most matches lie in one segment: then no second search (matches are never empty)
            last = first if first + 1 == count or end <= starts[first + 1] else find(starts, end - 1, first) - 1
            origin, _, copied = segments[first]
            begin = origin + (start - starts[first]) if copied else origin
            origin, origin_end, copied = segments[last]
            mapped.append((begin, origin + (end - starts[last]) if copied else origin_end))
        return mapped


@functools.lru_cache(maxsize=32)  # the detectors of one filter pass share it (str hashes are cached)
def normalize(text: str) -> Normalized | None:
    """The text as the detectors read it, or None if normalising changes nothing (the fast path).

    `python_normalize`, or its compiled twin (`pii_native`) when that is built.
    """
    if NATIVE is None:
        return python_normalize(text)
    found = native_normalize(text)
    return None if found is None else Normalized(*found)


def python_normalize(text: str) -> Normalized | None:
    """`normalize` in Python: the reference, and what runs without the compiled twin.

    Whether anything changes is decided by the same scan that makes the changes: `_CHANGE_SCAN`
    skips through plain text on its leading character class (~5 ns a character here), where a
    separate test led by alternatives (`| @|@ `, case-insensitive markers) was tried at every
    position: ~30 ns a character, most of the filter's cost on a clean message.
    """
    parts: list[str] = []
    starts: list[int] = []
    segments: list[tuple[int, int, bool]] = []
    length = position = 0

    def add(piece: str, start: int, end: int, copied: bool) -> None:
        nonlocal length
        if piece:
            parts.append(piece)
            starts.append(length)
            segments.append((start, end, copied))
            length += len(piece)

    for match in _CHANGE_SCAN.finditer(text):
        start, end = match.span()
        first = text[start]  # which alternative matched: their first characters differ
        if first == "@":
            # `bob @ example.org` reads as an address; a plain `@` (or one not between words) stays
            start, end = _widened(text, start, end, position)
            if (start, end) == match.span() or not (start > 0 and end < len(text)):
                continue
            if not (text[start - 1].isalnum() and text[end].isalnum()):
                continue
        elif first in _BRACKETS:
            start, end = _widened(text, start, end, position)
        add(text[position:start], position, start, True)
        if first == "@" or first in _BRACKETS:
            add("." if "d" in match.group().lower() else "@", start, end, False)
        elif first not in _INVISIBLE:
            add(match.group().translate(_FULL_WIDTH_TO_ASCII), start, end, True)
        position = end
    if position == 0:
        return None  # nothing changed (every change ends after the start)
    add(text[position:], position, len(text), True)
    return Normalized("".join(parts), starts, segments)


Spans = Callable[[str], list[tuple[int, int]]]


class _OnNormalized:
    """A detector of one type: `find` (the (start, end) of each match) run on the normalised text,
    its matches mapped back to spans of the original.

    `spans` gives only those spans: the PII filter needs no more, and on a PII-dense text building
    a match (a dict) per value, twice, cost about as much as finding it.
    """

    __slots__ = ("_find", "_type")

    def __init__(self, pii_type: str, find: Spans) -> None:
        self._type = pii_type
        self._find = find

    def __call__(self, content: str) -> list[PIIMatch]:
        return [
            PIIMatch(type=self._type, value=content[start:end], start=start, end=end)
            for start, end in self.spans(content)
        ]

    def spans(self, content: str) -> list[tuple[int, int]]:
        """The (start, end) of each match `self(content)` returns, in the same order."""
        normalized = normalize(content)
        if normalized is None:
            return self._find(content)
        return normalized.original_spans(self._find(normalized.text))


# --- detectors --------------------------------------------------------------------------------


def _non_overlapping(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


def _secret_hints(content: str) -> list[int]:
    """Hints in an ASCII `content`, in order: `_SECRET_HINT`'s, less the `A`s not starting a key id."""
    data = content.encode("ascii").translate(_SECRET_CLASSES)
    hints = [dash.start() for dash in _SECRET_DASH_HINT.finditer(data)] + _starts(b"J", data)
    hints += [a.start() for a in _SECRET_A_HINT.finditer(data)]
    at = content.find("-----BEGIN ")
    while at != -1:
        hints.append(at)
        at = content.find("-----BEGIN ", at + 1)
    return sorted(set(hints))


def _secret_matches(content: str) -> Iterator[re.Match[str]]:
    if content.isascii():
        scanned = ascii_scan(content)
        hints = scanned.secret_hints if scanned else _secret_hints(content)
        return finditer_before(hints, _SECRET_HINT_BACK, _SECRET, content)
    return finditer_near(_SECRET_HINT, _SECRET_HINT_BACK, _SECRET, content)


def _secret_spans(content: str) -> list[tuple[int, int]]:
    return [m.span() for m in _secret_matches(content)]


def _is_card(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return digits[0] in _ISSUER_DIGITS and len(set(digits)) > 1 and passes_luhn(number)


def _card_matches(content: str) -> Iterator[re.Match[str]]:
    """`_CARD.finditer(content)`; on ASCII text, trying `_CARD` only where a run of 4+ digits starts.

    A match starts with four digits and its look-behind rejects a digit before it, so it starts
    where a run of at least four digits does. Those are found with `bytes.translate` (digits to
    `0`) and a literal-led search (`_RUN_START`), instead of `re` trying `_CARD` at every digit.
    """
    if not content.isascii():
        yield from _CARD.finditer(content)
        return
    data = content.encode("ascii").translate(_DIGIT_CLASSES)
    position = 0
    while run := _RUN_START.search(data, position):  # from the end of a match: its groups are runs too
        match = _CARD.match(content, run.start())
        if match:
            yield match
        position = match.end() if match else run.end()


def _validated(candidates: Iterator[re.Match[str]], is_valid: Callable[[str], bool]) -> list[tuple[int, int]]:
    """The spans of the candidates `is_valid` accepts; each distinct value is checked once (one
    text often repeats one number or address; the memo lives for this call only)."""
    found = []
    checked: dict[str, bool] = {}
    for m in candidates:
        value = m.group()
        valid = checked.get(value)
        if valid is None:
            valid = checked[value] = is_valid(value)
        if valid:
            found.append(m.span())
    return found


def _card_spans(content: str) -> list[tuple[int, int]]:
    scanned = ascii_scan(content)
    return list(scanned.cards) if scanned else python_card_spans(content)


def python_card_spans(content: str) -> list[tuple[int, int]]:
    return _validated(_card_matches(content), _is_card)


def _url_spans(content: str) -> list[tuple[int, int]]:
    """langchain's URLs, minus schemeless ones that are file paths or version numbers."""
    scanned = ascii_scan(content)
    found = urls_from(content, scanned.scheme_urls, scanned.url_tokens) if scanned else url_spans(content)
    kept = []
    for start, end in found:
        value = content[start:end]
        if "://" not in value:
            host = value.split("/", 1)[0]
            if (start and content[start - 1] in "/\\.") or not _BARE_HOST_END.search(host):
                continue
        kept.append((start, end))
    return kept


def _ipv6_matches(content: str, run_starts: list[int]) -> Iterator[re.Match[str]]:
    """`_IPV6.finditer(content)`, trying the pattern only where it can match: at `ipv6_run_starts(content)`."""
    for start in run_starts:
        match = _IPV6.match(content, start)
        if match:
            yield match


def ipv6_run_starts(content: str) -> list[int]:
    """Where each run of hex digits and colons holding an `_IPV6_HINT` starts, in order.

    `_IPV6` starts with a look-behind, so `finditer` tries it at every position. But a match starts
    where its look-behind allows, at the start of a maximal run of hex digits and colons, and its
    look-ahead ends it at the end of that run: a match is a whole run. So only runs holding an
    `_IPV6_HINT` (every match has one) need trying, each once.
    """
    starts = []
    done = 0
    for hint in _IPV6_HINT.finditer(content):
        if hint.start() < done:
            continue  # in a run already tried
        start = hint.start()
        while start > done and content[start - 1] in _HEX_OR_COLON:
            start -= 1
        done = _HEX_OR_COLON_RUN.match(content, hint.start()).end()  # type: ignore[union-attr]
        starts.append(start)
    return starts


def _ipv4_matches(content: str) -> Iterator[re.Match[str]]:
    """`_IPV4.finditer(content)`, trying the pattern only at the digits before a `.` and a digit.

    A match starts at the first of the (1-3) digits before its first dot, and its look-behind
    rejects a digit before that start; so the start is where the run of digits before the dot
    begins. After a match, the look-ahead keeps the next run from reaching back into it.
    """
    resume = 0
    for dot in _IPV4_DOT.finditer(content):
        if dot.start() < resume:
            continue
        start = dot.start()
        while start > resume and dot.start() - start <= 3 and content[start - 1].isdecimal():
            start -= 1
        if start == dot.start() or dot.start() - start > 3:
            continue  # no digits before the dot, or more than three: no match has this first dot
        match = _IPV4.match(content, start)
        if match:
            resume = match.end()
            yield match


def _is_ipv4(address: str) -> bool:
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return True


def _is_ipv6(candidate: str) -> bool:
    if candidate.count(":") < 2 or ("::" not in candidate and candidate.count(":") != 7):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def python_ipv4_spans(content: str) -> list[tuple[int, int]]:
    return _validated(_ipv4_matches(content), _is_ipv4)


def _ip_spans(content: str) -> list[tuple[int, int]]:
    scanned = ascii_scan(content)
    ipv4 = list(scanned.ipv4) if scanned else python_ipv4_spans(content)
    run_starts = scanned.ipv6_run_starts if scanned else ipv6_run_starts(content)
    ipv6 = _validated(_ipv6_matches(content, run_starts), _is_ipv6)
    return _non_overlapping(ipv4 + ipv6) if ipv6 else ipv4  # IPv4 matches alone are in order, apart


def _email_spans(content: str) -> list[tuple[int, int]]:
    scanned = ascii_scan(content)
    return list(scanned.emails) if scanned else email_spans(content)


detect_secret = _OnNormalized("secret", _secret_spans)
detect_card = _OnNormalized("credit_card", _card_spans)
detect_ip_any = _OnNormalized("ip", _ip_spans)

DETECTORS: dict[str, _OnNormalized] = {
    "secret": detect_secret,
    "email": _OnNormalized("email", _email_spans),
    "credit_card": detect_card,
    "ip": detect_ip_any,
    "url": _OnNormalized("url", _url_spans),
}
