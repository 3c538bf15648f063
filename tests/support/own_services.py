"""A PostgreSQL and a Redis of a test's own, which the test may stop and restart at will.

The machine's shared PostgreSQL (5432) and Redis (6379) serve other tests running at the same
time, so fault tests never touch them: they start their own servers from the installed binaries,
on free loopback ports, with their data in a temporary directory, and remove everything afterwards.

As root, PostgreSQL runs as the `postgres` OS user (it refuses to run as root); otherwise as the
current user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deep_agent_service.server.devserver import free_port
from tests.support.services import require

POSTGRES_BIN = Path(os.environ.get("TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = Path(shutil.which("redis-server") or "/usr/bin/redis-server")
START_TIMEOUT_SECONDS = 30.0


def _as_postgres_user() -> list[str]:
    """The command prefix that runs a PostgreSQL binary as a user it accepts."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _hand_to_postgres_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class OwnPostgres:
    """One PostgreSQL cluster in `base` (data, socket, log), listening on 127.0.0.1:`port`."""

    base: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    @property
    def server_url(self) -> str:
        """Without a database name (append `/<db>`), as `selfhost.create_database` takes it."""
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def url(self, database: str = "postgres") -> str:
        return f"{self.server_url}/{database}"

    def _pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*_as_postgres_user(), str(POSTGRES_BIN / tool), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    def init(self) -> None:
        self.data.mkdir(parents=True)
        for path in (self.base, self.data):
            _hand_to_postgres_user(path)
        self.data.chmod(0o700)
        done = self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        # The socket lives in the data directory: no write to /var/run/postgresql, no clash with the
        # machine's server. fsync off: a test cluster, not data anyone keeps.
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        done = self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr or done.stdout}\n{self._log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """`fast` closes every session (what a planned restart does); `immediate` is a crash."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._pg("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A fresh, running PostgreSQL; stopped and deleted afterwards."""
    require((POSTGRES_BIN / "initdb").exists(), f"PostgreSQL binaries not found in {POSTGRES_BIN} (TEST_POSTGRES_BIN)")
    base = Path(tempfile.mkdtemp(prefix="das-own-pg-"))
    base.chmod(0o755)
    server = OwnPostgres(base)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            if server.running():
                server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class OwnRedis:
    """One `redis-server` on 127.0.0.1:`port`: without persistence (a restart empties it), or with
    `persistent=True` an append-only file fsynced on every write (a restart keeps every key)."""

    base: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    persistent: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        command += ["--dir", str(self.base), "--logfile", str(self.base / "redis.log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port} (see {self.base}/redis.log)")
            time.sleep(0.05)

    def ping(self) -> bool:
        """One RESP `PING` over a raw socket (no client library needed in the project's venv)."""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    """A fresh, running Redis; stopped afterwards."""
    require(REDIS_SERVER.exists(), f"redis-server not found at {REDIS_SERVER}")
    base = Path(tempfile.mkdtemp(prefix="das-own-redis-"))
    server = OwnRedis(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
