"""Directories for local sandboxes in tests.

When tests run as root, sandboxes run as uid 65534, which must be able to traverse to the
workspace; pytest's own temporary directories are private (0700), so these live under /tmp.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def sandbox_root(prefix: str = "deep-agent-sandboxes-") -> Path:
    """A fresh directory the sandbox user can reach; removed when the test process exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    atexit.register(shutil.rmtree, path, True)
    return path
