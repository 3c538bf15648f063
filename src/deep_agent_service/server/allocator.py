"""Which malloc the server processes we start run on (`SERVER_ALLOCATOR`).

Under glibc's malloc a long-running server's RSS keeps climbing while the memory it holds does not:
in the soak (`bench/soak.py`) memray inside Aegra saw live allocations flat at ~130 MB for 8 minutes
while RSS rose ~1.3 MB a minute, freed memory that glibc's arenas keep but cannot reuse or give back
(`MALLOC_ARENA_MAX=2` did not change the slope). jemalloc returns it: the same soak stays flat.
So every server started here (`make run`, `make aegra`, tests, benchmarks) preloads jemalloc when
the machine has it; the deployment image installs it (`dockerfile_lines` in langgraph.json).

- `auto` (default): jemalloc if the dynamic linker finds `libjemalloc.so.2`, else the system's malloc;
- `jemalloc`: jemalloc, or fail at start-up saying how to install it;
- `system`: the C library's malloc.

An `LD_PRELOAD` already in the environment is left as it is: whoever set it chose.
"""

from __future__ import annotations

import ctypes.util
import functools
from collections.abc import Mapping

from deep_agent_service.errors import ConfigurationError

VARIABLE = "SERVER_ALLOCATOR"
CHOICES = ("auto", "jemalloc", "system")
# A bare soname: the dynamic linker resolves it on any architecture (`ldconfig`'s cache).
JEMALLOC = "libjemalloc.so.2"


@functools.cache
def jemalloc_available() -> bool:
    return ctypes.util.find_library("jemalloc") is not None


def with_allocator(env: Mapping[str, str]) -> dict[str, str]:
    """`env` (a server process's whole environment) with the allocator `SERVER_ALLOCATOR` chooses."""
    chosen = env.get(VARIABLE) or "auto"
    if chosen not in CHOICES:
        raise ConfigurationError(f"{VARIABLE}={chosen!r} is not one of {', '.join(CHOICES)}")
    result = dict(env)
    if chosen == "system" or result.get("LD_PRELOAD"):
        return result
    if not jemalloc_available():
        if chosen == "jemalloc":
            raise ConfigurationError(
                f"{VARIABLE}=jemalloc but {JEMALLOC} is not installed: install it "
                "(Debian, Ubuntu: apt-get install libjemalloc2; Fedora: dnf install jemalloc) or set auto"
            )
        return result
    result["LD_PRELOAD"] = JEMALLOC
    return result


def allocator_of(env: Mapping[str, str]) -> str:
    """Which allocator a process started with `env` runs on, as the soak reports it."""
    return "jemalloc" if JEMALLOC in env.get("LD_PRELOAD", "") else "system"
