"""A PostgreSQL database of a test session's own on the machine's server, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.services import require, tcp_reachable

HOST = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1")
PORT = int(os.environ.get("TEST_POSTGRES_PORT", "5432"))
ADMIN_URI = os.environ.get("TEST_POSTGRES_ADMIN_URI", f"postgresql://postgres@{HOST}:{PORT}/test")


@contextmanager
def scratch_database(prefix: str = "das_test") -> Iterator[str]:
    """Create a fresh database and yield its URI; drop it (with any open sessions) at the end."""
    require(tcp_reachable(HOST, PORT), f"PostgreSQL is not reachable on {HOST}:{PORT}")
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URI, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN_URI, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
