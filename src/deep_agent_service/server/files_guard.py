"""HTTP edge of the `files` contract: a `files` update the agent cannot use is refused, not dropped.

Clients write thread state `files` with `POST /threads/{id}/state` (the Deep Agents UI's editor)
and as run input (`POST /threads/{id}/runs[/stream|/wait]`, `POST /runs[/stream|/wait]`). The
server would store anything there; entries the agent can never see (memory mounts, system
directories, deletions, odd shapes, oversized files) would vanish without a word. This ASGI
edge (`body_guard.BodyGuard`) checks those bodies with `sandboxes.files_state.check_files_update` and
answers 422 with the reason; bodies it accepts go on with bare-string entries turned into FileData.
"""

from __future__ import annotations

import re
from typing import Any

from deep_agent_service.memory.mounts import MOUNTS
from deep_agent_service.sandboxes.files_state import FILES_KEY, FilesUpdateError, check_files_update
from deep_agent_service.server.body_guard import BodyCheck, BodyRefused
from deep_agent_service.settings import get_settings

STATE_UPDATE = re.compile(r"/threads/[^/]+/state$")
RUN_CREATE = re.compile(r"(/threads/[^/]+)?/runs(/stream|/wait)?$")
MEMORY_PREFIXES = tuple(mount.prefix for mount in MOUNTS.values())


def _updates(path: str, body: Any) -> list[dict[str, Any]]:
    """The dicts in `body` that may carry `files`: state values (one or a list) or run input."""
    if not isinstance(body, dict):
        return []
    found = body.get("values") if STATE_UPDATE.search(path) else body.get("input")
    candidates = found if isinstance(found, list) else [found]
    return [c for c in candidates if isinstance(c, dict) and FILES_KEY in c]


def _check_files(path: str, body: Any) -> bool:
    """Checks each `files` update in `body`, turning bare-string entries into FileData in place."""
    updates = _updates(path, body)
    if not updates:
        return False
    max_bytes = get_settings().sandbox.state_file_max_bytes
    for update in updates:
        try:
            update[FILES_KEY] = check_files_update(update[FILES_KEY], hidden=MEMORY_PREFIXES, max_bytes=max_bytes)
        except FilesUpdateError as error:
            raise BodyRefused(str(error)) from error
    return True


FILES_UPDATES = BodyCheck("POST", re.compile(f"{STATE_UPDATE.pattern}|{RUN_CREATE.pattern}"), _check_files)
