"""The live token stream, guarded: PII filtered as it streams, and replies that stop halfway refused.

`stream_mode="messages"` carries the chunks a chat model yields while it generates, before any
middleware sees the reply. `StreamGuard` (the innermost guardrail) hands the handler a copy of
the request's model whose class is a subclass of the model's own class (so every
`isinstance(model, ChatAnthropic)` check of the inner middleware, such as prompt caching, still
holds) with `_astream` / `_agenerate` wrapped:

- PII: text passes through a `Holdback` buffer. It releases text once it can no longer be part
  of a match, already filtered: the last word is held until the next one starts (it may be the
  local part of `alice (at) example (dot) com`), a run of digit groups until it ends (a card is up
  to five groups), an obfuscated-email chain until it stops growing, and an unterminated
  `-----BEGIN ... PRIVATE KEY-----` block until its END line (at most `MAX_HOLD` characters are
  held; beyond that the oldest text is released, filtered as far as it is known). So replies
  still stream word by word, about one word behind the model. Tool-call arguments and non-text
  content blocks are held whole and filtered at the end of the reply. What streamed is exactly
  what is stored.
- Completeness: a stream that breaks after some chunks were yielded (connection reset), or that
  ends without the provider's finish reason (providers known to send one: OpenAI, Anthropic),
  raises `IncompleteStreamError` with the id of the abandoned message, a transient error: the
  retry middleware retries it and tells the client which partial message to drop.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from deep_agent_service.errors import ServiceError
from deep_agent_service.guardrails.events import report_trip
from deep_agent_service.guardrails.pii import PIIFilter

MAX_HOLD = 8192
# Providers whose streams end with a finish reason; a stream of theirs without one was cut off.
FINISH_REPORTING_MODULES = ("langchain_openai.", "langchain_anthropic.")
FINISH_KEYS = ("finish_reason", "stop_reason")

_LAST_TOKEN = re.compile(r"\S*\s*$")
_SEPARATOR = r"[ .\-\u3000]"
_DIGIT_RUN = re.compile(rf"(?:\d{{1,7}}{_SEPARATOR}){{1,5}}$")
_WORDISH = r"[\w.+%\-\u200b-\u200d\u2060\ufeff\u00ad]"
_MARKER = r"(?:[(\[{<]\s*(?:at|dot)\s*[)\]}>]|@)"
_PARTIAL_MARKER = r"(?:[(\[{<]\s*(?:a|at|d|do|dot)?\s*[)\]}>]?|@)"
# An obfuscated email still growing at the end of the text: `alice (at) example (dot) co` ...
_CHAIN_AT_END = re.compile(rf"(?:{_WORDISH}+\s*{_MARKER}\s*)+{_WORDISH}*\s*{_PARTIAL_MARKER}?\s*$", re.IGNORECASE)
_CHAIN_BEFORE = re.compile(rf"(?:{_WORDISH}+\s*{_MARKER}\s*)+$", re.IGNORECASE)
_WORD_BEFORE = re.compile(rf"{_WORDISH}+\s*$")
_STARTS_MARKER = re.compile(r"\s*[(\[{<@]")
_PEM_BEGIN = "-----BEGIN"
_PEM_END = re.compile(r"-----END[^\n-]*-----")


class IncompleteStreamError(ServiceError, ConnectionError):
    """The provider's streamed reply stopped before it finished; the partial message was abandoned.

    A `ConnectionError`, so the retry guardrail treats it as transient and tries again.
    """

    def __init__(self, message_id: str | None, reason: str) -> None:
        super().__init__(
            f"the model's streamed reply stopped before it finished ({reason}); its partial message "
            f"{message_id} was abandoned and the call will be retried"
        )
        self.message_id = message_id


def abandoned_message_id(exc: BaseException) -> str | None:
    """The id of the partial message an `IncompleteStreamError` in `exc`'s chain abandoned."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IncompleteStreamError):
            return seen.message_id
        seen = seen.__cause__ or seen.__context__
    return None


class Holdback:
    """Releases streamed text once no PII match can span the release point, filtered."""

    def __init__(self, pii: PIIFilter, counts: Counter[str], where: str = "model output") -> None:
        self.pii = pii
        self.counts = counts
        self.where = where
        self.pending = ""

    def push(self, text: str) -> str:
        self.pending += text
        cut = self._release_point(self.pending)
        if cut <= 0:
            return ""
        released, self.pending = self.pending[:cut], self.pending[cut:]
        return self.pii.text(released, self.counts, self.where)

    def flush(self) -> str:
        released, self.pending = self.pending, ""
        return self.pii.text(released, self.counts, self.where) if released else ""

    @staticmethod
    def _release_point(text: str) -> int:
        cut = len(text) - len(_LAST_TOKEN.search(text).group())  # type: ignore[union-attr]
        if (begin := text.rfind(_PEM_BEGIN)) >= 0 and begin < cut:
            end = _PEM_END.search(text, begin)
            if end is None or end.end() > cut:  # the block is not complete before the cut
                cut = begin
        if chain := _CHAIN_AT_END.search(text):
            cut = min(cut, chain.start())
        while cut > 0:  # never cut inside a run of digit groups or next to an email marker
            left, right = text[:cut], text[cut:]
            if right[:1].isdigit() and (run := _DIGIT_RUN.search(left)):
                cut = run.start()
            elif (chain := _CHAIN_BEFORE.search(left)) and chain.start() < cut:
                cut = chain.start()
            elif _STARTS_MARKER.match(right) and (word := _WORD_BEFORE.search(left)) and word.start() < cut:
                cut = word.start()
            else:
                break
        return max(cut, len(text) - MAX_HOLD)


def _finished(chunk: ChatGenerationChunk) -> bool:
    info = {**(chunk.generation_info or {}), **chunk.message.response_metadata}
    return any(info.get(key) for key in FINISH_KEYS)


def _text_of(content: Any) -> tuple[str, int | None]:
    """The streamable text of a chunk's content, and the index of its text block (list content)."""
    if isinstance(content, str):
        return content, None
    blocks = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
    text = "".join(str(b.get("text", "")) for b in blocks) + "".join(b for b in content if isinstance(b, str))
    return text, next((b["index"] for b in blocks if "index" in b), None)


def _held_part(message: BaseMessage) -> AIMessageChunk | None:
    """What of a chunk is held to the end of the reply: tool-call chunks and non-text content blocks."""
    calls = list(getattr(message, "tool_call_chunks", None) or [])
    others: list[str | dict[Any, Any]] = (
        []
        if isinstance(message.content, str)
        else [b for b in message.content if isinstance(b, dict) and b.get("type") != "text"]
    )
    if not calls and not others:
        return None
    return AIMessageChunk(content=others if others else "", tool_call_chunks=calls)


def _text_content(text: str, like: Any, index: int | None) -> Any:
    if isinstance(like, str):
        return text
    if not text:
        return []
    block: dict[str, Any] = {"type": "text", "text": text}
    if index is not None:
        block["index"] = index
    return [block]


def _filtered_args(args: str | None, pii: PIIFilter, counts: Counter[str]) -> str | None:
    """Tool-call arguments (JSON text) filtered value by value: escapes (`\\n`, `\\u200b`) would hide PII."""
    if not args:
        return args
    try:
        parsed = json.loads(args)
    except ValueError:
        return pii.text(args, counts, "model output")
    return json.dumps(pii.value(parsed, counts, "model output"))


def _filtered_held(held: list[AIMessageChunk], pii: PIIFilter | None, counts: Counter[str]) -> AIMessageChunk:
    merged: AIMessageChunk = reduce(lambda a, b: a + b, held)
    if pii is None:
        return merged
    calls = [{**call, "args": _filtered_args(call.get("args"), pii, counts)} for call in merged.tool_call_chunks]
    content = pii.value(merged.content, counts, "model output")
    return AIMessageChunk(content=content, tool_call_chunks=calls)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Guard:
    pii: PIIFilter | None
    require_finish: bool


# Guarded class -> its guard. Not class attributes: pydantic would turn `_names` into private fields.
_GUARDS: dict[type, _Guard] = {}


class _GuardedStream:
    """The behaviour mixed into a model's own class (see `guarded_model`)."""

    async def _astream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        guard = _GUARDS[type(self)]
        counts: Counter[str] = Counter()
        holdback = Holdback(guard.pii, counts) if guard.pii is not None else None
        held: list[AIMessageChunk] = []
        finished = False
        last: AIMessageChunk | None = None
        like: Any = ""
        text_index: int | None = None
        try:
            async for chunk in super()._astream(messages, stop=stop, **kwargs):  # type: ignore[misc]
                finished = finished or _finished(chunk)
                message = chunk.message
                if (part := _held_part(message)) is not None:
                    held.append(part)
                text, index = _text_of(message.content)
                like, text_index = message.content, index if index is not None else text_index
                released = holdback.push(text) if holdback is not None else text
                out = AIMessageChunk(
                    content=_text_content(released, like, index),
                    id=message.id,
                    response_metadata=message.response_metadata,
                    usage_metadata=getattr(message, "usage_metadata", None),
                    additional_kwargs={k: v for k, v in message.additional_kwargs.items() if k != "tool_calls"},
                )
                last = out
                yield ChatGenerationChunk(message=out, generation_info=chunk.generation_info)
        except Exception as exc:
            if last is None:
                raise
            raise IncompleteStreamError(last.id, f"{type(exc).__name__}: {exc}") from exc
        if last is not None and guard.require_finish and not finished:
            raise IncompleteStreamError(last.id, "the stream ended without a finish reason")
        tail = holdback.flush() if holdback is not None else ""
        if tail or held:
            final = AIMessageChunk(content=_text_content(tail, like, text_index), id=last.id if last else None)
            if held:
                final = final + _filtered_held(held, guard.pii, counts)
            yield ChatGenerationChunk(message=final)
        if counts:
            report_trip(None, "pii", "redacted", where="model output stream", counts=dict(counts))

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        result: ChatResult = await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)  # type: ignore[misc]
        pii = _GUARDS[type(self)].pii
        if pii is None:
            return result
        counts: Counter[str] = Counter()
        messages = [pii.message(g.message, counts, "model output") for g in result.generations]
        if not counts:  # every message is the one the model returned
            return result
        generations = [
            ChatGeneration(message=message, generation_info=g.generation_info)
            for message, g in zip(messages, result.generations, strict=True)
        ]
        return ChatResult(generations=generations, llm_output=result.llm_output)


_SUBCLASSES: dict[tuple[type, int], type] = {}


def guarded_model(model: BaseChatModel, pii: PIIFilter | None) -> BaseChatModel:
    """A copy of `model` whose class is a guarded subclass of its own (one class per model class and rules)."""
    cls = type(model)
    key = (cls, id(pii))
    sub = _SUBCLASSES.get(key)
    if sub is None:
        sub = _SUBCLASSES[key] = type(f"Guarded{cls.__name__}", (_GuardedStream, cls), {"__module__": __name__})
        _GUARDS[sub] = _Guard(pii, require_finish=cls.__module__.startswith(FINISH_REPORTING_MODULES))
    copy = model.model_copy()
    copy.__class__ = sub
    return copy


class StreamGuard(AgentMiddleware[Any, Any, Any]):
    """The innermost guardrail: every model call goes to a guarded copy of the request's model."""

    def __init__(self, pii: PIIFilter | None) -> None:
        super().__init__()
        self.pii = pii
        self._guarded: dict[int, tuple[BaseChatModel, BaseChatModel]] = {}

    @property
    def name(self) -> str:
        return "StreamGuard"

    def _guard(self, model: BaseChatModel) -> BaseChatModel:
        if isinstance(model, _GuardedStream):
            return model
        cached = self._guarded.get(id(model))
        if cached is None or cached[0] is not model:
            cached = self._guarded[id(model)] = (model, guarded_model(model, self.pii))
        return cached[1]

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        return await handler(request.override(model=self._guard(request.model)))
