"""The deployed image's configuration, without Docker: the server process the `langchain/langgraph-api`
image runs (uvicorn on `langgraph_api.server:app`), configured only through the variables the generated
Dockerfile sets (LANGSERVE_GRAPHS, LANGGRAPH_AUTH, LANGGRAPH_HTTP, LANGGRAPH_STORE, LANGGRAPH_CHECKPOINTER),
no bubblewrap on PATH, and the README's deploy settings (SANDBOX_PROVIDER=langsmith). It starts, serves
a run and /healthz, and /ui when web/dist was built.

Not reproduced: the image's fresh install (`uv pip install -e .` against its constraints) and its
PostgreSQL runtime; this uses the test venv and the in-memory runtime (no network for the install)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from langgraph_sdk import get_client

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.server.devserver import free_port, spawn, wait_until_ready
from tests.support.chat import ask
from tests.support.server import BASE_ENV

IMAGE_VARIABLES = ("LANGSERVE_GRAPHS", "LANGGRAPH_AUTH", "LANGGRAPH_HTTP", "LANGGRAPH_STORE", "LANGGRAPH_CHECKPOINTER")
DEPLOY_SETTINGS = {"SANDBOX_PROVIDER": "langsmith", "LANGSMITH_API_KEY": "lsv2-smoke-test-not-a-real-key"}
OPEN_HEALTH_DETAILS = {"OPERATIONS_ENDPOINTS_OPEN": "true"}  # to read which sandbox provider it built
# what `langgraph dev` sets for the in-memory runtime (the image sets the PostgreSQL one)
INMEM_RUNTIME = {
    "LANGGRAPH_RUNTIME_EDITION": "inmem",
    "DATABASE_URI": ":memory:",
    "REDIS_URI": "fake",
    "MIGRATIONS_PATH": "__inmem",
    "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "true",
}


def image_environment(tmp_path: Path) -> dict[str, str]:
    """The ENV lines of the Dockerfile `langgraph dockerfile` writes, with /deps/<name> mapped to this checkout."""
    dockerfile = tmp_path / "Dockerfile"
    langgraph = Path(sys.executable).parent / "langgraph"
    subprocess.run(
        [str(langgraph), "dockerfile", "-c", str(PROJECT_ROOT / "langgraph.json"), str(dockerfile)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = dockerfile.read_text()
    deps_dir = re.search(r"^WORKDIR (/deps/\S+)$", text, re.MULTILINE)
    assert deps_dir, text
    env = {
        name: value.replace(deps_dir.group(1), str(PROJECT_ROOT))
        for name, value in re.findall(r"^ENV (\w+)='(.*)'$", text, re.MULTILINE)
    }
    assert set(IMAGE_VARIABLES) <= env.keys(), env
    return env


async def test_the_image_configuration_starts_and_serves_a_run_without_bubblewrap(tmp_path: Path) -> None:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "LANGGRAPH_", "LANGSERVE_"))}
    env = {
        **inherited,
        **BASE_ENV,
        **image_environment(tmp_path),
        **INMEM_RUNTIME,
        **DEPLOY_SETTINGS,
        **OPEN_HEALTH_DETAILS,
        "PATH": str(Path(sys.executable).parent),
    }  # the venv's tools only: no /usr/bin/bwrap
    assert json.loads(env["LANGSERVE_GRAPHS"])["agent"].startswith(str(PROJECT_ROOT))
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "langgraph_api.server:app", "--host", "127.0.0.1", "--port", str(port)]
    server = spawn(command, url=f"http://127.0.0.1:{port}", env=env, cwd=tmp_path, log_path=tmp_path / "server.log")
    try:
        wait_until_ready(server, timeout=120)
        assert (await ask(get_client(url=server.url), "hello")).strip()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.json()["sandbox_provider"] == {"status": "ok", "provider": "langsmith"}
            if (PROJECT_ROOT / "web" / "dist" / "index.html").is_file():
                ui = await http.get("/ui/", follow_redirects=True)
                assert ui.status_code == 200 and "<html" in ui.text.lower()
    finally:
        server.stop()
