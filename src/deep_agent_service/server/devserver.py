"""Start `langgraph dev` on a known port, wait until it answers, and say where it is.

Used by the README's run command (`make run`) and by the integration tests, so both start the
server the same way. A port that is already taken is an error, never a silent move to another port.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.errors import ServiceError
from deep_agent_service.server.allocator import with_allocator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2024


class ServerStartError(ServiceError, RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    """A running `langgraph dev` process."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path | None
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None:
            return "(see the server output above)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """Hard crash (SIGKILL): what a power cut or OOM kill looks like to the server."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)


def _absolute(spec: str) -> str:
    """`./src/agent.py:agent` -> `/abs/project/src/agent.py:agent`."""
    return str(PROJECT_ROOT / spec[2:]) if spec.startswith("./") else spec


def isolated_config(
    workdir: Path, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Path:
    """Write a copy of the project's `langgraph.json` into `workdir` with absolute paths.

    `langgraph dev` keeps its data under `./.langgraph_api` of its working directory and resolves
    the auth path against it, so a server started in `workdir` with this config has data of its
    own (tests, benchmarks) and reads no `.env`: its environment is exactly `env`. `overrides`
    replaces top-level keys (e.g. a custom `store`).
    """
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(PROJECT_ROOT) if dep == "." else dep for dep in config["dependencies"]]
    config["graphs"] = {name: _absolute(spec) for name, spec in config["graphs"].items()}
    if "auth" in config:
        config["auth"]["path"] = _absolute(config["auth"]["path"])
    if "http" in config and "app" in config["http"]:
        config["http"]["app"] = _absolute(config["http"]["app"])
    config["env"] = dict(env or {})
    config.update(overrides or {})
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def langgraph_command(host: str, port: int, config: Path | None = None) -> list[str]:
    bin_dir = Path(sys.executable).parent
    langgraph = bin_dir / "langgraph"
    command = [str(langgraph) if langgraph.exists() else "langgraph", "dev", "--no-browser", "--no-reload"]
    command += ["--host", host, "--port", str(port)]
    if config is not None:
        command += ["--config", str(config)]
    return command


def wait_until_ready(server: DevServer, timeout: float, path: str = "/ok") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(f"the server exited with code {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}{path}", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    server.stop()
    raise ServerStartError(f"the server did not answer {path} within {timeout:.0f}s:\n{server.log_tail()}")


def start_server(
    *,
    port: int,
    host: str = DEFAULT_HOST,
    env: Mapping[str, str] | None = None,
    log_path: Path | None,
    cwd: Path = PROJECT_ROOT,
    config: Path | None = None,
    timeout: float = 120.0,
) -> DevServer:
    """Start `langgraph dev` in its own process group and return once `/ok` answers."""
    if not port_is_free(host, port):
        raise ServerStartError(
            f"port {port} on {host} is already in use: stop what is listening there "
            f"(e.g. `lsof -i :{port}`) or choose another port (make run PORT={port + 1})"
        )
    full_env = with_allocator({**os.environ, **(env or {})})
    server = spawn(
        langgraph_command(host, port, config), url=f"http://{host}:{port}", env=full_env, cwd=cwd, log_path=log_path
    )
    server.env = dict(env or {})
    wait_until_ready(server, timeout)
    return server


def spawn(command: list[str], *, url: str, env: Mapping[str, str], cwd: Path, log_path: Path | None) -> DevServer:
    """Start a server process in its own session (so it can be stopped as a group), logging to `log_path`."""
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        start_new_session=True,
    )
    if log is not None:
        log.close()
    return DevServer(process=process, url=url, log_path=log_path)


@contextlib.contextmanager
def running_server(**kwargs: object) -> Iterator[DevServer]:
    server = start_server(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Deep Agent service on langgraph dev.")
    parser.add_argument("--host", default=os.environ.get("HOST", DEFAULT_HOST))
    parser.add_argument("--port", type=int, default=None, help=f"default {DEFAULT_PORT}; an explicit port must be free")
    args = parser.parse_args(argv)
    port = args.port or (int(os.environ["PORT"]) if os.environ.get("PORT") else None)
    if port is None:
        port = DEFAULT_PORT
        if not port_is_free(args.host, port):
            port = next(p for p in range(DEFAULT_PORT + 1, DEFAULT_PORT + 100) if port_is_free(args.host, p))
            print(
                f"warning: the default port {DEFAULT_PORT} is in use; using {port} instead. "
                f"Clients: DEEP_AGENT_URL=http://{args.host}:{port}   (PORT=... make run picks a port; "
                "an explicit port that is taken is an error)",
                file=sys.stderr,
            )
    from deep_agent_service.errors import ConfigurationError
    from deep_agent_service.settings import load_settings

    try:
        settings = load_settings()
        model = settings.models.primary_model
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Starting the Deep Agent service (model: {model}, auth: {settings.auth.mode}) ...")
    try:
        # a checkout private to root gets its sandboxes elsewhere from the server itself (sandboxes.registry)
        server = start_server(port=port, host=args.host, log_path=None)
    except ServerStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    received: list[int] = []

    def stop_on_signal(signum: int, _frame: object) -> None:
        # Only ask here: waiting inside the handler would re-enter the `wait()` it interrupted, which
        # holds the process's wait lock, and stall until the SIGKILL fallback. `wait()` below returns
        # once the server has gone.
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)

    # The server runs in its own session; without this a SIGTERM to us would orphan it.
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    print(f"Deep Agent service ready: {server.url}")
    built = (PROJECT_ROOT / "web" / "dist" / "index.html").is_file()
    print(f"  Web UI:   {server.url}/ui/" if built else "  Web UI:   not built (`make web`: Node.js 20+, npm)")
    print(f"  API docs: {server.url}/docs    health: {server.url}/healthz")
    print("  Try it:   python examples/chat.py 'remember I like green tea'    (Ctrl-C stops the server)")
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        server.stop()
        return 0
    server.stop()  # after a signal: SIGKILL if it has not gone within the grace period
    return 128 + received[0] if received else code


if __name__ == "__main__":
    raise SystemExit(main())
