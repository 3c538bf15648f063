"""Run this project's `langgraph.json` on Aegra (an Agent Protocol server on PostgreSQL + Redis).

Aegra needs Python >= 3.12, so it lives in a venv of its own (`.venv-aegra`, created by
`deploy/aegra/install.sh`); this module only starts it, from the project's own interpreter:
it creates the database if absent, writes nothing into the repo, and starts `uvicorn
aegra_api.main:app` with the environment Aegra reads (`DATABASE_URL`, `REDIS_URL`,
`REDIS_BROKER_ENABLED`, `AEGRA_CONFIG`); on SIGTERM it drains and exits 0. Used by `make aegra`
and by the durability tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.errors import ServiceError
from deep_agent_service.server.allocator import with_allocator
from deep_agent_service.server.devserver import (
    DEFAULT_HOST,
    DevServer,
    ServerStartError,
    port_is_free,
    spawn,
    wait_until_ready,
)

AEGRA_VENV = Path(os.environ.get("AEGRA_VENV") or PROJECT_ROOT / ".venv-aegra").absolute()
INSTALL_SCRIPT = PROJECT_ROOT / "deploy" / "aegra" / "install.sh"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE = "deep_agent_aegra"
DEFAULT_AEGRA_PORT = 2026
# SIGTERM drains (docs/operations.md "Draining an Aegra instance"): uvicorn closes the listening
# socket at once, gives open HTTP requests (runs.wait, streams) HTTP_GRACE_SECONDS to end, then Aegra's
# executor lets running jobs finish for WORKER_DRAIN_TIMEOUT (Aegra's setting, 30 s by default) and
# hands the rest back to the queue for another instance.
HTTP_GRACE_SECONDS = 10
# An idle keep-alive connection stays open this long (uvicorn's default is 5 s). Clients drop theirs
# sooner (`client.py`: 2.5 s) so that they never send on one the server is closing; but a client
# whose event loop lags (500 concurrent runs on 2 cores) returns a connection to its pool seconds
# after the server sent the response and started its clock: `bench/aegra_scale.py` lost a run to
# a ReadError so. Load balancers keep idle connections 60 s (AWS ALB) and need the backend to keep
# them longer.
HTTP_KEEP_ALIVE_SECONDS = 75
# uvicorn re-raises the SIGTERM it handled once shutdown is complete, so a drained instance would
# still end "killed by signal" (-15); a handler installed before uvicorn's turns that re-raise into exit 0.
_LAUNCHER = (
    "import signal, sys, uvicorn; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); "
    "sys.argv[0] = 'uvicorn'; uvicorn.main()"
)
AEGRA_DRAIN_DEFAULT_SECONDS = 30.0  # Aegra's WORKER_DRAIN_TIMEOUT default
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class SelfHostError(ServiceError, RuntimeError):
    """Aegra could not be installed, configured or started; the message says how to fix it."""


def ensure_aegra_venv(venv: Path = AEGRA_VENV) -> Path:
    """Create/refresh the Aegra venv through the install script (a no-op when it is up to date)."""
    result = subprocess.run(["bash", str(INSTALL_SCRIPT), str(venv)], check=False)
    if result.returncode != 0:
        raise SelfHostError(f"{INSTALL_SCRIPT} failed with code {result.returncode} (see its output above)")
    python = venv / "bin" / "python"
    if not python.exists():
        raise SelfHostError(f"{python} is missing after install: delete {venv} and run `make aegra-venv` again")
    return python


def _check_name(database: str) -> str:
    if not _DATABASE_NAME.match(database):
        raise SelfHostError(f"database name {database!r} must match {_DATABASE_NAME.pattern} (lower-case identifier)")
    return database


def create_database(database: str, server_url: str = DEFAULT_POSTGRES) -> str:
    """Create `database` on the PostgreSQL server if absent; return its URL."""
    import psycopg

    _check_name(database)
    try:
        conn = psycopg.connect(f"{server_url}/postgres", autocommit=True)
    except psycopg.OperationalError as error:
        hint = "start it or set AEGRA_POSTGRES"
        raise SelfHostError(f"cannot reach PostgreSQL at {server_url} ({error}): {hint}") from None
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    return f"{server_url}/{database}"


def drop_database(database: str, server_url: str = DEFAULT_POSTGRES) -> None:
    """Drop `database`, closing its remaining connections first (WITH FORCE, PostgreSQL >= 13)."""
    import psycopg

    _check_name(database)
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def aegra_env(database_url: str, redis_url: str = DEFAULT_REDIS, config: Path | None = None) -> dict[str, str]:
    """What Aegra reads: one database, Redis as broker and job queue (so several instances share runs)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_BROKER_ENABLED": "true",
        "AEGRA_CONFIG": str(config or PROJECT_ROOT / "langgraph.json"),
        "LOG_VERBOSITY": "standard",
    }


def start_aegra(
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path | None,
    cwd: Path = PROJECT_ROOT,
    host: str = DEFAULT_HOST,
    python: Path | None = None,
    timeout: float = 120.0,
) -> DevServer:
    """Start one Aegra instance in its own process group; return once `/ready` answers."""
    if not port_is_free(host, port):
        raise SelfHostError(f"port {port} on {host} is already in use: choose another (make aegra AEGRA_PORT=...)")
    python = python or AEGRA_VENV / "bin" / "python"
    if not python.exists():
        raise SelfHostError(f"{python} not found: run `make aegra-venv` first (creates {AEGRA_VENV})")
    # HOST/PORT are also read by Aegra's settings (SERVER_URL); keep them consistent with uvicorn.
    full_env = with_allocator({**os.environ, **env, "HOST": host, "PORT": str(port)})
    command = [str(python), "-c", _LAUNCHER, "aegra_api.main:app", "--host", host, "--port", str(port)]
    command += ["--timeout-graceful-shutdown", str(HTTP_GRACE_SECONDS)]
    command += ["--timeout-keep-alive", str(HTTP_KEEP_ALIVE_SECONDS)]
    server = spawn(command, url=f"http://{host}:{port}", env=full_env, cwd=cwd, log_path=log_path)
    server.env = dict(env)
    try:
        wait_until_ready(server, timeout, path="/ready")
    except ServerStartError as error:
        raise SelfHostError(f"Aegra did not start: {error}") from None
    return server


def drain_grace_seconds(env: Mapping[str, str]) -> float:
    """The longest a SIGTERMed instance takes to exit: HTTP requests, then running jobs (requeued after)."""
    return HTTP_GRACE_SECONDS + float(env.get("WORKER_DRAIN_TIMEOUT") or AEGRA_DRAIN_DEFAULT_SECONDS)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Deep Agent service on Aegra (PostgreSQL + Redis).")
    env = os.environ  # empty values mean the default, as in .env.example
    parser.add_argument("--host", default=env.get("AEGRA_HOST") or DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=int(env.get("AEGRA_PORT") or DEFAULT_AEGRA_PORT))
    parser.add_argument("--database", default=env.get("AEGRA_DATABASE") or DEFAULT_DATABASE)
    parser.add_argument("--postgres", default=env.get("AEGRA_POSTGRES") or DEFAULT_POSTGRES)
    parser.add_argument("--redis", default=env.get("AEGRA_REDIS") or DEFAULT_REDIS)
    args = parser.parse_args(argv)
    try:
        python = ensure_aegra_venv()
        database_url = create_database(args.database, args.postgres)
        print(f"Starting Aegra on {args.host}:{args.port} (database {args.database}, Redis {args.redis}) ...")
        server = start_aegra(
            port=args.port, host=args.host, env=aegra_env(database_url, args.redis), log_path=None, python=python
        )
    except (SelfHostError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # Aegra runs in its own process group: stop it on SIGTERM too, not only on Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    print(f"Deep Agent service on Aegra ready: {server.url}   (health: {server.url}/healthz, Ctrl-C stops it)")
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            server.stop(timeout=drain_grace_seconds(os.environ) + 5)  # let it drain before the SIGKILL
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
