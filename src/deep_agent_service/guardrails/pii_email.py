"""langchain's `detect_email`, match for match, found from each `@` instead of from every word.

langchain's pattern (`\\b[local]+@[domain]+\\.[A-Z|a-z]{2,}\\b`) starts with `\\b`, so `finditer`
tries it at every word of the text. Every match holds exactly one `@` (neither part can hold one),
and what follows the `@` does not depend on where the local part starts. So per `@`: the domain
is matched once, and the match starts at the first word boundary of the run of local characters
before the `@` (not before the end of the previous match, where `finditer` resumes).
`tests/unit/guardrails/test_pii_email.py` checks equality with langchain's.
"""

from __future__ import annotations

import re

from deep_agent_service.private_apis import PIIMatch

_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
# langchain's pattern after the local part (with its `|` in the class, as written there).
_DOMAIN = re.compile(r"@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b")
_BOUNDARY = re.compile(r"\b")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
# On ASCII text the local part's start is found in C: local characters to `L`, all others to a
# space, then the last space before the `@` (a Python loop per character cost more on dense text).
_LOCAL_CLASSES = bytes(ord("L") if chr(code) in _LOCAL else ord(" ") for code in range(256))


def detect_email(content: str) -> list[PIIMatch]:
    return [
        PIIMatch(type="email", value=content[start:end], start=start, end=end) for start, end in email_spans(content)
    ]


def email_spans(content: str) -> list[tuple[int, int]]:
    """The (start, end) of each match `detect_email` returns (the PII filter needs no more)."""
    matches: list[tuple[int, int]] = []
    resume = 0  # where `finditer` would search from: the end of the previous match
    at = content.find("@")
    classes: bytes | None = None
    while at != -1:
        domain = _DOMAIN.match(content, at)
        if domain:
            if classes is None and content.isascii():
                classes = content.encode("ascii").translate(_LOCAL_CLASSES)
            if classes is not None:
                start = max(resume, classes.rfind(b" ", resume, at) + 1)
            else:
                start = at
                while start > resume and content[start - 1] in _LOCAL:
                    start -= 1
            # Usually a space, then a letter or digit: `\b` is at `start`. Otherwise `re` finds it
            # (`pos` does not hide the character before it from `\b`, as in `finditer`).
            if start and content[start - 1] == " " and content[start] in _ALNUM:  # so before the `@`
                first: int | None = start
            else:
                boundary = _BOUNDARY.search(content, start, at)
                first = boundary.start() if start < at and boundary and boundary.start() < at else None
            if first is not None:
                resume = domain.end()
                matches.append((first, resume))
        at = content.find("@", max(at + 1, resume))
    return matches
