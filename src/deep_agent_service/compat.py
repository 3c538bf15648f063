"""Work-arounds for installed-library bugs, applied once on import (each names its removal condition).

deepagents 0.7.x declares `SkillMetadata` (part of the agent's input state, `skills_metadata`) as a
`typing.TypedDict`. On Python < 3.12 pydantic refuses those, so the server cannot build the agent's
input schema: `/assistants/{id}/schemas` has no input schema, and the built-in MCP endpoint (`/mcp`)
drops the agent from its tool list. The annotations in `deepagents.middleware.skills` are strings
(`from __future__ import annotations`), resolved against the module's globals when a schema is built,
so rebinding the name to an identical `typing_extensions.TypedDict` fixes every schema. Remove when
deepagents imports TypedDict from typing_extensions, or when the service requires Python 3.12.
"""

from __future__ import annotations

import sys
import typing

import typing_extensions


def _typed_dict_for_pydantic(cls: type) -> type:
    """The same TypedDict (fields, totality, docs), built with typing_extensions."""
    fields = typing.get_type_hints(cls, include_extras=True)
    clone = typing_extensions.TypedDict(cls.__name__, fields, total=cls.__total__)  # type: ignore[misc]
    clone.__module__, clone.__doc__ = cls.__module__, cls.__doc__
    return clone  # type: ignore[no-any-return]


def patch_skill_metadata() -> None:
    if sys.version_info >= (3, 12):
        return
    from deepagents.middleware import skills

    if type(skills.SkillMetadata) is not type(typing.TypedDict("Probe", {})):  # type: ignore[operator]
        return  # not a typing.TypedDict (fixed upstream, or already patched)
    skills.SkillMetadata = _typed_dict_for_pydantic(skills.SkillMetadata)  # type: ignore[assignment,misc]


patch_skill_metadata()
