"""`make run`'s launcher (`python -m deep_agent_service.server.devserver`): it says where the service and
the web UI are, and a SIGTERM (a service manager, a closed terminal) stops it and its server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.server.devserver import DEFAULT_HOST, free_port, port_is_free
from tests.support.server import BASE_ENV


def test_sigterm_stops_the_launcher_and_its_server() -> None:
    port = free_port()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "deep_agent_service.server.devserver", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **BASE_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        lines = []
        for line in launcher.stdout:
            lines.append(line)
            if "Web UI:" in line:
                break
        url = f"http://{DEFAULT_HOST}:{port}"
        assert f"Deep Agent service ready: {url}\n" in lines
        assert httpx.get(f"{url}/ok", timeout=10).status_code == 200

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=12) == 128 + signal.SIGTERM  # the server's grace period is 15 s
        assert port_is_free(DEFAULT_HOST, port)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
