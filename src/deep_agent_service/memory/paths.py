"""The one canonical form of an agent filesystem path, and which mount a path belongs to.

Every layer that looks at a path (the composite backend's routing, the read-only permissions,
the mount guard, the store's quotas, the sandbox sync) asks this module, so they cannot disagree
about where a write lands. `canonical_path` is deliberately strict: it collapses only what is
plainly the same path and refuses everything that could be read two ways.

- `//` and `/./` collapse, a trailing `/` is dropped: `/memories//a/./b.md` -> `/memories/a/b.md`;
  a relative path is taken from `/`, as deepagents' own file tools do (`notes.md` -> `/notes.md`).
- `..` is refused (never resolved): `/memories/../policies/x` names `/policies/x` to one reader
  and something under `/memories/` to another.
- NUL, control characters and invisible format characters (zero-width space, bidi controls) are
  refused: they hide what a path says.
- Percent escapes (`%2e`, `%2F`, `%70`) are refused, never decoded: no layer decodes them, so a
  decoded and an undecoded reading could only ever differ.
- Unicode: the path must already be in NFC, and NFKC must not change it. A decomposed `é` and
  a composed one would otherwise be two keys for one name, and compatibility look-alikes (a
  fullwidth solidus U+FF0F, a fullwidth `p` in `/policies`, ligatures) would display as another
  path. Both are refused with the normalised spelling to use instead; nothing is normalised
  silently. Confusables across scripts (a Cyrillic `o` U+043E in `/policies`) are not detected:
  they name a different, ordinary path, and since mounts are matched on the exact canonical
  string they can never reach a mount.
- At most `MAX_PATH_CHARS` characters, and `MAX_COMPONENT_BYTES` UTF-8 bytes per component (the
  limit of every common filesystem, so what the store accepts a sandbox can hold too).

A mount's bare prefix (`/policies`, `/policies/`) IS the mount: `mount_of` says so, and
`MountRootError` refuses writing it, because a write there would land on the store key `/`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from deep_agent_service.errors import ServiceError

MAX_PATH_CHARS = 1024
MAX_COMPONENT_BYTES = 255
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class PathRefusedError(ServiceError, ValueError):
    """A path that has no single meaning; the message says which rule it broke and what to write instead."""


class MountRootError(PathRefusedError):
    """A write aimed at a mount itself (`/memories`) rather than at a file in it."""


def _refuse(path: str, why: str) -> PathRefusedError:
    return PathRefusedError(f"{path!r} was refused: {why}")


def _check_characters(path: str) -> None:
    if "\x00" in path:
        raise _refuse(path, "it contains a NUL character; file names cannot hold one")
    for char in path:
        category = unicodedata.category(char)
        if category == "Cc":
            raise _refuse(path, f"it contains the control character U+{ord(char):04X}")
        if category == "Cf":
            name = unicodedata.name(char, "unnamed")
            raise _refuse(path, f"it contains the invisible character U+{ord(char):04X} ({name})")
    if _PERCENT_ESCAPE.search(path):
        raise _refuse(path, "percent escapes such as %2e are not decoded; write the character itself")
    nfc = unicodedata.normalize("NFC", path)
    if nfc != path:
        raise _refuse(path, f"it is not in Unicode NFC form; write {nfc!r}")
    nfkc = unicodedata.normalize("NFKC", path)
    if nfkc != path:
        raise _refuse(path, f"it contains compatibility look-alike characters (NFKC: {nfkc!r}); write {nfkc!r}")


def canonical_path(path: str) -> str:
    """The canonical spelling of an absolute agent path; raises `PathRefusedError` (see the module doc)."""
    if not isinstance(path, str) or not path:
        raise PathRefusedError("a file path is required, e.g. /memories/notes.md")
    if len(path) > MAX_PATH_CHARS:
        raise _refuse(path[:60] + "...", f"it is {len(path)} characters long; paths are limited to {MAX_PATH_CHARS}")
    _check_characters(path)
    if "\\" in path:
        raise _refuse(path, "backslashes are not path separators here; use /")
    if path.startswith("~"):
        raise _refuse(path, "'~' is not expanded; name the file by its absolute path, e.g. /memories/notes.md")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse(path, "'..' is not allowed; name the file by its own absolute path")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise _refuse(path[:60] + "...", f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    return "/" + "/".join(parts)


def mount_of(path: str, prefixes: Iterable[str]) -> tuple[str, str] | None:
    """`(prefix, key)` when the canonical `path` is a mount itself (key `/`) or lies under one; else None.

    `prefixes` end with `/` (`/memories/`); the longest match wins, as in the composite backend."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        root = prefix.rstrip("/")
        if path == root:
            return prefix, "/"
        if path.startswith(root + "/"):
            return prefix, path[len(root) :]
    return None


def mount_root_error(prefix: str) -> MountRootError:
    return MountRootError(
        f"{prefix.rstrip('/')} is a mount (a folder of persistent memory), not a file: write, edit or delete "
        f"a file under it instead, e.g. {prefix}notes.md"
    )
