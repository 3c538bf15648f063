"""The deployed image, without Docker: a fresh install of this project the way the Dockerfile that
`langgraph dockerfile` writes installs it, then the server process the `langchain/langgraph-api` image
runs (uvicorn on `langgraph_api.server:app`) from that install, configured only by the variables the
Dockerfile sets (LANGSERVE_GRAPHS, LANGGRAPH_AUTH, LANGGRAPH_HTTP, LANGGRAPH_STORE, LANGGRAPH_CHECKPOINTER),
what LangSmith Deployments set in a deployment's container (LANGSMITH_HOST_PROJECT_ID and the
deployment's LangSmith key, LANGCHAIN_API_KEY; no SANDBOX_PROVIDER: the platform is detected), and no
bubblewrap on PATH. It starts, serves a run, /healthz reports LangSmith sandboxes, and /ui serves when
web/dist was built.

The install, as the Dockerfile's steps:
- `ADD . /deps/<name>`: the checkout is copied to tmp/deps/<name>, less what is never part of a build
  (.git, venvs, node_modules, caches) and `.env` (the developer's settings; deployment settings are the
  platform's variables), with web/dist as built;
- the base image: a new venv with langgraph-api (and the in-memory runtime, standing in for the image's
  PostgreSQL runtime) at the test venv's versions; its `pip freeze` stands in for /api/constraints.txt;
- `uv pip install --system -c /api/constraints.txt -e .` in /deps/<name>: `pip install -c ... -e .` in
  the copy, no extras (the test checks the generated Dockerfile still installs that way).

Not reproduced: uv itself (pip honours this machine's package mirrors), the image's own constraints
file and OS, its PostgreSQL runtime (the in-memory one runs instead), the platform's ingress."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.client import connect
from deep_agent_service.server.allocator import JEMALLOC, jemalloc_available
from deep_agent_service.server.devserver import free_port, spawn, wait_until_ready
from deep_agent_service.settings import LANGSMITH_DEPLOYMENT_VARIABLE
from tests.support import venvs
from tests.support.chat import ask
from tests.support.server import BASE_ENV
from tests.support.services import REQUIRE_SERVICES

IMAGE_VARIABLES = ("LANGSERVE_GRAPHS", "LANGGRAPH_AUTH", "LANGGRAPH_HTTP", "LANGGRAPH_STORE", "LANGGRAPH_CHECKPOINTER")
# The Dockerfile's install step this test reproduces; a change in langgraph-cli fails here, not silently.
IMAGE_INSTALL = re.compile(r"uv pip install --system --no-cache-dir -c /api/constraints\.txt -e \.\)")
# What the base image has before the project is installed: the server and (here) its in-memory runtime.
BASE_PACKAGES = ("langgraph-api", "langgraph-runtime-inmem")
# What the image build leaves out: the checkout's .dockerignore (local state, secrets, rebuilt artefacts).
NOT_COPIED = tuple(
    line.strip().removeprefix("**/")
    for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
# LangSmith Deployments' variables in every deployment's container (values made up; the key is the one the
# platform gives the deployment), and what the README asks to set: no SANDBOX_PROVIDER.
PLATFORM_VARIABLES = {
    LANGSMITH_DEPLOYMENT_VARIABLE: str(uuid.uuid4()),
    "LANGSMITH_LANGGRAPH_API_VARIANT": "cloud",
    "LANGCHAIN_API_KEY": "lsv2-smoke-test-not-a-real-key",
}
OPEN_HEALTH_DETAILS = {"OPERATIONS_ENDPOINTS_OPEN": "true"}  # to read which sandbox provider it built
# what `langgraph dev` sets for the in-memory runtime (the image sets the PostgreSQL one)
INMEM_RUNTIME = {
    "LANGGRAPH_RUNTIME_EDITION": "inmem",
    "DATABASE_URI": ":memory:",
    "REDIS_URI": "fake",
    "MIGRATIONS_PATH": "__inmem",
    "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "true",
}
# The image's /api/logging.json (its shape, as langgraph_api/runner/__main__.py repeats it): every logger
# through langgraph-api's formatter to stdout, at LOG_LEVEL (INFO). Without it uvicorn shows only its own.
IMAGE_LOG_CONFIG = {
    "version": 1,
    "incremental": False,
    "disable_existing_loggers": False,
    "formatters": {"simple": {"class": "langgraph_api.logging.Formatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "simple", "stream": "ext://sys.stdout"}},
    "root": {"handlers": ["console"]},
}
# The developer's shell must not configure the server: only the image's and the platform's variables do.
NOT_INHERITED = ("SANDBOX_", "LANGGRAPH_", "LANGSERVE_", "LANGSMITH_", "LANGCHAIN_", "VIRTUAL_ENV", "PYTHON")


@dataclass(frozen=True)
class Dockerfile:
    deps_dir: str  # /deps/<name>, the image's copy of the checkout and its WORKDIR
    env: dict[str, str]  # its ENV lines
    text: str


def generated_dockerfile(tmp_path: Path) -> Dockerfile:
    """The Dockerfile `langgraph dockerfile` writes for this checkout's langgraph.json."""
    path = tmp_path / "Dockerfile"
    langgraph = Path(sys.executable).parent / "langgraph"
    subprocess.run(
        [str(langgraph), "dockerfile", "-c", str(PROJECT_ROOT / "langgraph.json"), str(path)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = path.read_text()
    deps_dir = re.search(r"^WORKDIR (/deps/\S+)$", text, re.MULTILINE)
    assert deps_dir, text
    env = dict(re.findall(r"^ENV (\w+)='(.*)'$", text, re.MULTILINE))
    assert set(IMAGE_VARIABLES) <= env.keys(), env
    return Dockerfile(deps_dir=deps_dir.group(1), env=env, text=text)


def install_like_the_image(tmp_path: Path, dockerfile: Dockerfile) -> tuple[Path, Path]:
    """The copied tree (the image's /deps/<name>) and the python of a fresh venv it is installed in."""
    assert f"ADD . {dockerfile.deps_dir}" in dockerfile.text and IMAGE_INSTALL.search(dockerfile.text), (
        f"the generated Dockerfile no longer installs the project as this test reproduces:\n{dockerfile.text}"
    )
    tree = tmp_path / dockerfile.deps_dir.lstrip("/")
    shutil.copytree(PROJECT_ROOT, tree, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    python = venvs.create(tmp_path / "image-venv")
    pins = tmp_path / "test-venv-pins.txt"
    pins.write_text(venvs.pins_of_this_venv(exclude=["deep-agent-service"]))
    base = [f"{name}=={metadata.version(name)}" for name in BASE_PACKAGES]
    venvs.pip_install(python, "-c", str(pins), *base)
    constraints = tmp_path / "api-constraints.txt"  # the base image's /api/constraints.txt
    constraints.write_text(venvs.freeze(python))
    venvs.pip_install(python, "-c", str(constraints), "-e", ".", cwd=tree, env={"PYTHONDONTWRITEBYTECODE": "1"})
    return tree, python


def _runs_on_jemalloc(pid: int) -> bool:
    return "libjemalloc" in Path(f"/proc/{pid}/maps").read_text()


def image_environment(dockerfile: Dockerfile, tree: Path, python: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    return {
        **inherited,
        **BASE_ENV,
        **{name: value.replace(dockerfile.deps_dir, str(tree)) for name, value in dockerfile.env.items()},
        **INMEM_RUNTIME,
        **PLATFORM_VARIABLES,
        **OPEN_HEALTH_DETAILS,
        "PATH": str(python.parent),  # the image venv's tools only: no /usr/bin/bwrap
    }


async def test_a_fresh_image_install_starts_on_the_platform_and_serves_a_run_without_bubblewrap(
    tmp_path: Path,
) -> None:
    dockerfile = generated_dockerfile(tmp_path)
    tree, python = install_like_the_image(tmp_path, dockerfile)
    assert not venvs.has_module(python, "pytest"), "the image venv must not be the test venv"
    env = image_environment(dockerfile, tree, python)
    assert "SANDBOX_PROVIDER" not in env and shutil.which("bwrap", path=env["PATH"]) is None
    assert json.loads(env["LANGSERVE_GRAPHS"])["agent"].startswith(str(tree))
    port = free_port()
    log_config = tmp_path / "logging.json"
    log_config.write_text(json.dumps(IMAGE_LOG_CONFIG))
    command = [str(python), "-m", "uvicorn", "langgraph_api.server:app", "--log-config", str(log_config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "server.log"
    server = spawn(command, url=f"http://127.0.0.1:{port}", env=env, cwd=tree, log_path=log)
    try:
        wait_until_ready(server, timeout=120)
        assert (await ask(connect(url=server.url), "hello")).strip()
        # the image preloads jemalloc (its apt-get step is not reproduced: this machine's library stands in)
        assert env["LD_PRELOAD"] == JEMALLOC
        if jemalloc_available():
            assert _runs_on_jemalloc(server.process.pid)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.json()["sandbox_provider"] == {"status": "ok", "provider": "langsmith"}
            if (tree / "web" / "dist" / "index.html").is_file():
                ui = await http.get("/ui/", follow_redirects=True)
                assert ui.status_code == 200 and "<html" in ui.text.lower()
            elif REQUIRE_SERVICES:
                pytest.fail("web/dist is not built, so /ui is untested: `make test` builds it (make web) first")
    finally:
        server.stop()
    assert f"SANDBOX_PROVIDER is unset and this is a LangSmith Deployment ({LANGSMITH_DEPLOYMENT_VARIABLE}" in (
        log.read_text()
    )
