"""langchain's `detect_url`, match for match, without its two slow parts.

langchain scans its schemeless pattern (led by `\\b`) from every word of the text, and checks each
schemeless match against every URL found so far (quadratic on URL-dense text). Here:

- a schemeless match never holds whitespace, and needs a `.` followed by a letter or digit, so only
  the whitespace-free tokens with such a dot are scanned (with `pos`/`endpos`, so `\\b` still sees
  the character before the token): `finditer` over the whole text finds the same matches, since
  none can span a token boundary;
- a schemeless match is kept only if it holds a `/` or starts with `www.`, so only the tokens
  holding one are looked at, found with `str.find` from one to the next: the many dotted tokens
  with neither (email addresses, IPs, decimals) cost nothing;
- the overlap check is a binary search over the sorted, disjoint scheme matches (schemeless
  matches never overlap each other, so only those can exclude one).

`tests/unit/guardrails/test_pii_url.py` checks equality with langchain's on the corpus, the bench
texts and random texts.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from urllib.parse import urlparse

from deep_agent_service.private_apis import PIIMatch

# Both patterns are langchain's (`_redaction.detect_url`), unchanged.
_SCHEME = re.compile(r"https?://[^\s<>\"{}|\\^`\[\]]+")
_BARE = re.compile(
    r"\b(?:www\.)?[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+(?:/[^\s]*)?"
)
# Every schemeless match holds a dot followed by an ASCII letter or digit (its second label).
_DOT = re.compile(r"\.[a-zA-Z0-9]")
_TOKEN_REST = re.compile(r"\S*")


def _token_start(text: str, position: int, floor: int) -> int:
    """Where the whitespace-free token around `position` starts (not before `floor`).

    From the last space before `position`: every other whitespace character is unprintable, so a
    printable stretch after that space holds none (the usual case); otherwise, step back by hand.
    """
    start = max(floor, text.rfind(" ", floor, position) + 1)
    if text[start:position].isprintable():
        return start
    while position > floor and not text[position - 1].isspace():
        position -= 1
    return position


def candidate_tokens(content: str) -> list[tuple[int, int]]:
    """(start, end) of each whitespace-free token that can hold a kept schemeless match, in order.

    Only a token holding a `/` or `www.` can: go from one such token to the next with `str.find`.
    """
    return list(_candidate_tokens(content))


def _candidate_tokens(content: str) -> Iterator[tuple[int, int]]:
    position = 0  # the end of the last token looked at
    slash, www = content.find("/"), content.find("www.")
    while True:
        if -1 < slash < position:
            slash = content.find("/", position)
        if -1 < www < position:
            www = content.find("www.", position)
        if slash == -1 and www == -1:
            return
        hit = www if slash == -1 or (www != -1 and www < slash) else slash
        token_start = _token_start(content, hit, position)
        token_end = position = _TOKEN_REST.match(content, hit).end()  # type: ignore[union-attr]
        dot = _DOT.search(content, token_start, token_end)  # the token's first dot before a letter or digit
        if dot is None:
            continue
        # A match is kept only with a `/` (after its first dot, so after this token's first) or a
        # leading `www.` (its first dot at this token's first or later).
        at = dot.start()
        if content.find("/", at, token_end) != -1 or content.find("www.", max(token_start, at - 3), token_end) != -1:
            yield token_start, token_end


def detect_url(content: str) -> list[PIIMatch]:
    return [PIIMatch(type="url", value=content[start:end], start=start, end=end) for start, end in url_spans(content)]


def scheme_spans(content: str) -> list[tuple[int, int]]:
    """The (start, end) of each URL with a scheme that `detect_url` returns, in order."""
    matches: list[tuple[int, int]] = []
    parsed: dict[str, bool] = {}  # one text often repeats one URL (kept for this call only)
    for match in _SCHEME.finditer(content):
        url = match.group()
        valid = parsed.get(url)
        if valid is None:
            result = urlparse(url)
            valid = parsed[url] = result.scheme in {"http", "https"} and bool(result.netloc)
        if valid:
            matches.append(match.span())
    return matches


def url_spans(content: str) -> list[tuple[int, int]]:
    """The (start, end) of each match `detect_url` returns (the PII filter needs no more)."""
    return urls_from(content, scheme_spans(content), candidate_tokens(content))


def urls_from(content: str, schemes: list[tuple[int, int]], tokens: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`url_spans`, given `scheme_spans(content)` and the `candidate_tokens(content)` (or those of
    them not inside a URL with a scheme: every match there is dropped anyway)."""
    matches = list(schemes)
    starts = [start for start, _ in matches]
    ends = [end for _, end in matches]

    def inside_scheme_match(position: int) -> bool:
        at = bisect.bisect_right(starts, position) - 1
        return at >= 0 and position < ends[at]

    for token_start, token_end in tokens:
        for match in _BARE.finditer(content, token_start, token_end):
            start, end = match.start(), match.end()
            if inside_scheme_match(start) or inside_scheme_match(end - 1):
                continue
            url = match.group()
            if "/" in url or url.startswith("www."):
                result = urlparse(f"http://{url}")
                if result.netloc and "." in result.netloc:
                    matches.append((start, end))
    return matches
