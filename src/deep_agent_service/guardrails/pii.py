"""PII filtering of input, model output, tool calls and tool results, and of the live stream.

Detection and strategies (redact, mask, hash, block) are langchain's (`_redaction.apply_strategy`
and its detectors, plus ours in `pii_detectors`); one middleware applies every configured type so
each piece of text is scanned in one place:

- input: the new user messages are replaced in state (same ids) before the agent starts;
- model requests: every message is filtered again before it is sent (a backstop for history
  written before PII filtering was on), so the provider never receives a raw value; text this filter
  produced itself is known clean and not scanned again, so a conversation's history is scanned once,
  not once per model call;
- model output: the reply (content and tool-call arguments) is filtered inside the model call,
  BEFORE it is returned, so state, checkpoints and `updates`/`values` streams only see filtered
  text; tool-call arguments are what `write_file`/`edit_file` write to memory, so memory files
  pass through the same filter (and are filtered again right before those tools run);
- tool results: filtered inside the tool (`tool_output`), before its own callbacks report them to
  the `events` stream, and again (a backstop) before they are returned to the agent.

The live stream: `stream_mode="messages"` emits token chunks while the model is still generating,
before any middleware sees the reply; `streaming.StreamGuard` filters them as they stream, with a
holdback buffer (see there), so replies still stream token by token. When every PII type is `off`
neither this middleware nor the stream filter is installed.

`block`: a user message that contains a blocked type ends the run at once with a final message
(the message is stored redacted, never raw); blocked content from the model or a tool fails the
run with `PIIBlockedError` before it reaches state.
"""

from __future__ import annotations

import bisect
import hashlib
import operator
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse, hook_config
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool

from deep_agent_service.errors import ServiceError
from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.guardrails.pii_detectors import DETECTORS, normalize
from deep_agent_service.guardrails.pii_native import NATIVE, native_windows
from deep_agent_service.guardrails.tool_output import filtered_result, guarded_tool
from deep_agent_service.private_apis import PIIDetectionError, PIIMatch, RedactionStrategy, apply_strategy
from deep_agent_service.settings import PIIStrategy

MEMORY_WRITING_TOOLS = frozenset({"write_file", "edit_file"})
# A replacement can complete a match another detector missed (`a@b.travel4111 1111 1111 1111`: the
# email ends at a word boundary only once the card is replaced), so filtering repeats until a pass
# finds nothing; each pass replaces at least one value, and replacements are never PII themselves.
# The second pass reads only the pieces around the first pass's replacements (`_windows`), and
# passes after it (rare: only when it found something) read the whole text again.
MAX_PASSES = 8
CLEAN_MEMO_SIZE = 8192


def _digest(text: str) -> bytes:
    # SHA-256: collision resistant (a text must not pass for a clean one) and, with the CPU's SHA
    # instructions, about twice as fast as BLAKE2b on a 1 MB text.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _fingerprint(message: BaseMessage) -> bytes:
    """A digest of every part of a message the filter reads. `repr` of JSON-like values is
    injective (strings are quoted and escaped), so two messages share a fingerprint only when
    those parts are equal."""
    if isinstance(message, AIMessage):
        read: object = (message.content, message.tool_calls, message.invalid_tool_calls)
    else:
        read = message.content
    return _digest(repr(read))


def _replacement(match: PIIMatch, strategy: RedactionStrategy) -> str:
    """What langchain's strategy puts in place of one matched value."""
    return _replacement_of(match["type"], match["value"], strategy)


def _replacement_of(pii_type: str, value: str, strategy: RedactionStrategy) -> str:
    return apply_strategy(value, [PIIMatch(type=pii_type, value=value, start=0, end=len(value))], strategy)


def _spans(detector: Callable[[str], list[PIIMatch]], content: str) -> list[tuple[int, int]]:
    """The (start, end) of each match of `detector`, without building the matches where it can."""
    spans = getattr(detector, "spans", None)
    if spans is not None:
        return spans(content)  # type: ignore[no-any-return]
    return [(match["start"], match["end"]) for match in detector(content)]


_START = operator.itemgetter(0)


def _replaced(content: str, chosen: list[tuple[int, int, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The content with the chosen spans replaced, and where the replacements are in it."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = length = 0
    for start, end, replacement in sorted(chosen, key=_START):  # chosen spans never overlap: starts differ
        length += start - position
        parts.append(content[position:start])
        parts.append(replacement)
        spans.append((length, length + len(replacement)))
        length += len(replacement)
        position = end
    parts.append(content[position:])
    return "".join(parts), spans


# --- the second pass, on windows --------------------------------------------------------------
# A pass after the first can only find something near a replacement: a "cut" is a space between
# two printable ASCII characters that are not both digits (a card's separator) and none of
# `@()[]{}<>` (the obfuscation markers, which normalising widens over spaces). No detector's match
# holds a cut (emails, URLs, IPs and every secret shape hold no space; a card's spaces sit between
# digits; a PEM block can, so texts with `-----BEGIN` are rescanned whole), and no look-around or
# context check reads past the space next to it, where the end of a text reads the same. So every
# detector finds in a text what it finds in its pieces between cuts, and a piece the first pass
# found nothing in is unchanged and still holds nothing. The second pass scans only the pieces that
# hold a replacement, each distinct piece once (a text often repeats a value in the same words),
# joined by " x" (so every join is a cut again).
_CUT_SIDE = frozenset(chr(code) for code in range(0x21, 0x7F)) - frozenset("@()[]{}<>")
_DIGITS = frozenset("0123456789")
_PEM = "-----BEGIN"
_JOIN = " x"


_SIDE = "".join(map(re.escape, sorted(_CUT_SIDE)))  # as the inside of a character class
_SIDE_NOT_DIGIT = "".join(map(re.escape, sorted(_CUT_SIDE - _DIGITS)))
# A cut, matched at its space: `re` checks both sides, and skips to the next space fast.
_CUT = re.compile(f" (?:(?<=[{_SIDE_NOT_DIGIT}] )(?=[{_SIDE}])|(?<=[0-9] )(?=[{_SIDE_NOT_DIGIT}]))")


def _is_cut(text: str, space: int) -> bool:
    """Whether the space at `space` is a cut (see above)."""
    return _CUT.match(text, space) is not None


def _windows(text: str, spans: list[tuple[int, int]]) -> str:
    """The distinct pieces of `text` between cuts that hold a replacement (`spans`, sorted), joined by `_JOIN`.

    A cut next to a replacement (the character before or after it replaced) is not used, so the
    same cuts are cuts of the text before the replacements. `python_windows`, or its compiled twin.
    """
    return python_windows(text, spans) if NATIVE is None else native_windows(text, spans)


def python_windows(text: str, spans: list[tuple[int, int]]) -> str:
    """`_windows` in Python: the reference, and what runs without the compiled twin."""
    pieces: dict[str, None] = {}  # in order, each once: detectors find in each what they find in all
    floor = 0  # where the last piece ended (a cut, or the start)
    index, count, size = 0, len(spans), len(text)
    rfind, is_cut, next_cut = text.rfind, _CUT.match, _CUT.search
    while index < count:
        start, end = spans[index]
        left = floor
        space = rfind(" ", floor + 1, start - 1) if start > floor + 2 else -1
        while space > floor:
            if is_cut(text, space):
                left = space
                break
            space = rfind(" ", floor + 1, space)
        right = size
        while True:
            # a cut at a space in [end + 1, following - 2]: `endpos` still lets it read the character after
            following = spans[index + 1][0] if index + 1 < count else size + 1
            cut = next_cut(text, end + 1, following)
            if cut is not None:
                right = cut.start()
                break
            if index + 1 == count:
                break
            index += 1  # no cut before the next replacement: one piece holds both
            end = spans[index][1]
        pieces[text[left:right]] = None
        floor = right
        index += 1
    return _JOIN.join(pieces)


def _read_text(text: str) -> str:
    """The text as the detectors read it (normalised; cached, so shared with their pass)."""
    normalized = normalize(text)
    return text if normalized is None else normalized.text


def _all_replaced(text: str, chosen: list[tuple[int, int, str]]) -> bool:
    """Whether every `-----BEGIN` the detectors read in `text` lies inside a chosen span."""
    normalized = normalize(text)
    read = text if normalized is None else normalized.text
    at = read.find(_PEM)
    if at == -1:
        return True
    spans = sorted((start, end) for start, end, _ in chosen)
    while at != -1:
        start, end = (at, at + len(_PEM)) if normalized is None else normalized.original_span(at, at + len(_PEM))
        index = bisect.bisect_right(spans, (start, len(text))) - 1
        if index < 0 or spans[index][1] < end:
            return False
        at = read.find(_PEM, at + 1)
    return True


class PIIBlockedError(ServiceError, PIIDetectionError, ValueError):
    """Content of a type configured as `block` reached the model's output or a tool result.

    A `ValueError` too, so the server shows its message to the client (it hides the message of
    unknown exception types); the message names the type and the count, never the value.
    """

    def __init__(self, pii_type: str, count: int, where: str) -> None:
        self.where = where
        variable = f"PII_{pii_type.upper()}"
        Exception.__init__(
            self,
            f"blocked: the {where} contained {count} {pii_type} value(s) and {variable}=block; "
            f"remove it, or ask an administrator to set {variable} to redact, mask or hash",
        )
        self.pii_type = pii_type
        self.matches = []


class PIIFilter:
    """Applies the configured (type, strategy) rules in order to text and nested values."""

    def __init__(self, rules: Sequence[tuple[str, PIIStrategy]]) -> None:
        self.rules: tuple[tuple[str, RedactionStrategy], ...] = tuple(
            (pii_type, strategy) for pii_type, strategy in rules if strategy != "off"
        )
        self._detectors = [(pii_type, DETECTORS[pii_type], strategy) for pii_type, strategy in self.rules]
        # Digests of texts a full pass found nothing in: this filter's own outputs, and clean input.
        # Plain dicts (atomic operations under the GIL; the server runs graphs on several threads),
        # emptied when full. `_clean_hashes` holds their `hash()`es (cached in each str, and read by
        # the detectors' `normalize` cache anyway): a text whose hash is not there is not digested
        # (a 1 MB text costs ~1 ms), and the digest alone decides.
        self._clean: dict[bytes, None] = {}
        self._clean_hashes: dict[int, None] = {}
        self._clean_messages: dict[bytes, None] = {}  # fingerprints (`_fingerprint`) of clean messages
        self._reads_pem = any(pii_type == "secret" for pii_type, _, _ in self._detectors)

    def text(self, content: str, counts: Counter[str], where: str) -> str:
        """`content` with every configured type replaced; raises `PIIBlockedError` for `block` types."""
        if hash(content) in self._clean_hashes and _digest(content) in self._clean:
            return content
        passes = 0
        chosen = self._pass(content, counts, where)
        if chosen:
            original = content
            content, spans = _replaced(content, chosen)
            passes = 1
            if self._nothing_near(original, content, chosen, spans):
                chosen = []  # what a second pass over the whole text would find
            else:
                while passes < MAX_PASSES:
                    chosen = self._pass(content, counts, where)
                    if not chosen:
                        break
                    content, _ = _replaced(content, chosen)
                    passes += 1
        if not chosen:
            if len(self._clean) >= CLEAN_MEMO_SIZE:
                self._clean_hashes.clear()
                self._clean.clear()
            self._clean[_digest(content)] = None
            self._clean_hashes[hash(content)] = None  # after the digest: a hash here is only a hint
        return content

    def _pass(self, content: str, counts: Counter[str], where: str) -> list[tuple[int, int, str]]:
        """One pass of every detector: the (start, end, replacement) to apply, counted in `counts`.

        Every detector reads the same text (one normalisation, shared); where matches overlap, the
        type applied first (secrets before URLs) wins this pass, and the next pass sees the
        replacement.
        """
        chosen: list[tuple[int, int, str]] = []
        taken: list[tuple[int, int]] = []  # sorted, non-overlapping spans
        find = bisect.bisect_left
        for pii_type, detector, strategy in self._detectors:
            spans = _spans(detector, content)
            if not spans:
                continue
            if strategy == "block":
                raise PIIBlockedError(pii_type, len(spans), where)
            replacements: dict[str, str] = {}  # per value: one text often repeats one (this pass only)
            kept = 0
            # While the spans come in order of their starts (they do from every detector here),
            # the ones kept go to `new`, and a span can only overlap the last of those: `taken`
            # gets them in one merge at the end, not one list insert each (thousands on dense text).
            new: list[tuple[int, int]] = []
            ordered, last_start = True, -1
            for span in spans:
                start, end = span
                if ordered and start < last_start:
                    taken, new, ordered = sorted(taken + new, key=_START), [], False
                last_start = start
                at = find(taken, start, key=_START)  # by start alone: spans never empty, taken disjoint
                if (at and taken[at - 1][1] > start) or (at < len(taken) and taken[at][0] < end):
                    continue
                if not ordered:
                    taken.insert(at, span)
                elif new and new[-1][1] > start:  # matches are never empty, so this is overlap
                    continue
                else:
                    new.append(span)
                kept += 1
                value = content[start:end]
                replacement = replacements.get(value)
                if replacement is None:
                    replacement = replacements[value] = _replacement_of(pii_type, value, strategy)
                chosen.append((start, end, replacement))
            if new:
                taken = sorted(taken + new, key=_START)  # two sorted runs: one linear merge
            if kept:
                counts[pii_type] += kept
        return chosen

    def _nothing_near(
        self, before: str, after: str, chosen: list[tuple[int, int, str]], spans: list[tuple[int, int]]
    ) -> bool:
        """Whether a pass over `after` (`before` with `chosen` replaced, now at `spans`) finds nothing.

        True only when no detector finds anything in the pieces around the replacements (see
        `_windows`). A private-key block is the one match that can hold a cut: the answer is False
        (a full pass decides) unless every `-----BEGIN` the detectors read in `before` was replaced
        (secrets applied first, so every block found was) and none is left in those pieces.
        """
        if self._reads_pem and (self._detectors[0][0] != "secret" or not _all_replaced(before, chosen)):
            return False
        windows = _windows(after, spans)
        if any(_spans(detector, windows) for _, detector, _ in self._detectors):
            return False
        return not (self._reads_pem and _PEM in _read_text(windows))

    def value(self, value: Any, counts: Counter[str], where: str) -> Any:
        """Filter every string leaf of a JSON-like value (tool arguments, content blocks)."""
        if isinstance(value, str):
            return self.text(value, counts, where) if value else value
        if isinstance(value, dict):
            return {key: self.value(item, counts, where) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(item, counts, where) for item in value)
        return value

    def message(self, message: BaseMessage, counts: Counter[str], where: str) -> BaseMessage:
        """A filtered copy of the message (the same object when nothing changed); ids are kept.

        Each model call sends the whole history again, and the history is rebuilt from the
        checkpoint every run, so a message seen clean before is known by a fingerprint of what this
        filter reads in it (its content and tool-call arguments), not by identity: a message edited
        in place (`update_state` with the same id) has another fingerprint and is scanned again.
        """
        fingerprint = _fingerprint(message)
        if fingerprint in self._clean_messages:
            return message
        filtered = self._scanned_message(message, counts, where)
        if filtered is message:
            if len(self._clean_messages) >= CLEAN_MEMO_SIZE:
                self._clean_messages.clear()
            self._clean_messages[fingerprint] = None
        return filtered

    def _scanned_message(self, message: BaseMessage, counts: Counter[str], where: str) -> BaseMessage:
        update: dict[str, Any] = {}
        before = sum(counts.values())
        content = self.value(message.content, counts, where)
        if content != message.content:
            update["content"] = content
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = [{**call, "args": self.value(call["args"], counts, where)} for call in message.tool_calls]
            if calls != message.tool_calls:
                update["tool_calls"] = calls
        if isinstance(message, AIMessage) and message.invalid_tool_calls:
            update["invalid_tool_calls"] = [
                {**call, "args": self.value(call.get("args"), counts, where)} for call in message.invalid_tool_calls
            ]
        if not update or sum(counts.values()) == before:
            return message
        return message.model_copy(update=update)


class PIIGuard(AgentMiddleware[Any, Any, Any]):
    """The PII guardrail (see the module docstring for where and why it filters).

    Constructed with a `block` rule it is a `BlockingPIIGuard`: only a blocked user message can end
    the run from `before_agent`, and a hook that may jump makes `create_agent` put a conditional edge
    after that node, evaluated on every run (0.05-0.1 ms of a ~3.5 ms offline run here). Without a
    `block` rule (the shipped defaults) the run goes straight on to the model.
    """

    def __new__(cls, rules: Sequence[tuple[str, PIIStrategy]]) -> PIIGuard:
        blocks = cls is PIIGuard and any(strategy == "block" for _, strategy in rules)
        return super().__new__(BlockingPIIGuard if blocks else cls)

    def __init__(self, rules: Sequence[tuple[str, PIIStrategy]]) -> None:
        super().__init__()
        self.filter = PIIFilter(rules)
        self._tools: dict[int, tuple[BaseTool, BaseTool]] = {}

    @property
    def name(self) -> str:
        return "PIIGuard"

    def _guarded_tool(self, tool: BaseTool) -> BaseTool:
        cached = self._tools.get(id(tool))
        if cached is None or cached[0] is not tool:
            cached = self._tools[id(tool)] = (tool, guarded_tool(tool, self.filter))
        return cached[1]

    def _report(self, runtime: Any, counts: Counter[str], where: str) -> None:
        if counts:
            report_trip(runtime, "pii", "redacted", where=where, counts=dict(counts))

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        messages: list[AnyMessage] = state.get("messages", [])
        start = next((i + 1 for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], AIMessage)), 0)
        counts: Counter[str] = Counter()
        changed: list[BaseMessage] = []
        for message in messages[start:]:
            if not isinstance(message, HumanMessage):
                continue
            try:
                filtered = self.filter.message(message, counts, "user message")
            except PIIBlockedError as blocked:
                report_trip(runtime, "pii", "blocked", where="user message", pii_type=blocked.pii_type)
                # Store the message redacted (never raw) and end the run with the reason.
                redacting = PIIFilter([(t, "redact") for t, _ in self.filter.rules])
                safe = redacting.message(message, Counter(), "user message")
                return {"messages": [safe, AIMessage(content=f"Stopped: {blocked}")], "jump_to": "end"}
            if filtered is not message:
                changed.append(filtered)
        self._report(runtime, counts, "user message")
        return {"messages": changed} if changed else None

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        counts: Counter[str] = Counter()
        messages: list[AnyMessage] = [
            self.filter.message(m, counts, "model request")  # type: ignore[misc]
            for m in request.messages
        ]
        if counts:  # something was replaced; otherwise every message is the one it was (no request copy)
            self._report(request.runtime, counts, "model request")
            request = request.override(messages=messages)
        response = await handler(request)
        counts = Counter()
        result = [self.filter.message(m, counts, "model output") for m in response.result]
        if not counts:
            return response
        self._report(request.runtime, counts, "model output")
        return ModelResponse(result=result, structured_response=response.structured_response)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        call = request.tool_call
        if call["name"] in MEMORY_WRITING_TOOLS:
            counts: Counter[str] = Counter()
            args = self.filter.value(call["args"], counts, f"{call['name']} arguments")
            if counts:
                self._report(request.runtime, counts, f"{call['name']} arguments")
                request = request.override(tool_call={**call, "args": args})
        if getattr(request, "tool", None) is not None:
            # filtered inside the tool, so its own `on_tool_end` (the `events` stream) sees no raw value
            request = request.override(tool=self._guarded_tool(request.tool))
        result = await handler(request)
        counts = Counter()
        where = f"{call['name']} result"
        result = filtered_result(self.filter, result, counts, where)  # a backstop: found nothing normally
        self._report(request.runtime, counts, where)
        return result


class BlockingPIIGuard(PIIGuard):
    """`PIIGuard` with a `block` rule: a user message holding a blocked type ends the run."""

    @hook_config(can_jump_to=["end"])
    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return await super().abefore_agent(state, runtime)
