"""Browser tests: Playwright drives Debian's Chromium against the web UI served by a real `langgraph dev`.

The server runs in `api_keys` mode, so every test also proves the UI sends the key on its calls.
Screenshots land in `docs/` (the README shows them).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from langgraph_sdk.client import LangGraphClient
from playwright.async_api import Browser, Page, async_playwright, expect

from deep_agent_service import PROJECT_ROOT
from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from deep_agent_service.server.webapp import WEB_DIST
from tests.support.server import api_keys_env, serving
from tests.support.services import require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_INSTALLED = Path(CHROMIUM).is_file()
# What the machine's probe found Chromium needs here: no sandbox as root, no calls to the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_KEY = "e2e-admin-key"
SCREENSHOTS = PROJECT_ROOT / "docs"
CREDENTIAL_STORAGE_KEY = "deep-agent:credential"  # web/src/api.ts
# axe-core comes from npm (web/package.json devDependencies), injected into the page by the test.
AXE_SCRIPT = PROJECT_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    require((WEB_DIST / "index.html").is_file(), f"the web UI is not built in {WEB_DIST}: run `make web`")
    keys = {ADMIN_KEY: {"user": "alice", "org": "acme", "role": "admin"}}
    with serving(Path(tmp_path_factory.mktemp("ui")), api_keys_env(keys)) as server:
        yield server


@pytest.fixture
def api(ui_server: DevServer) -> LangGraphClient:
    return connect(url=ui_server.url, api_key=ADMIN_KEY)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    require(CHROMIUM_INSTALLED, f"Chromium is not installed at {CHROMIUM}: run `make browser`")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser profile that already holds the admin's key (as if typed in once before)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 820})
    await context.add_init_script(f"window.localStorage.setItem({CREDENTIAL_STORAGE_KEY!r}, {ADMIN_KEY!r})")
    errors: list[str] = []
    opened = await context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(30_000)
    yield opened
    await context.close()
    assert errors == [], f"the page raised: {errors}"


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"ui-{name}.png"))


async def axe_violations(page: Page) -> dict[str, list[str]]:
    """axe-core's WCAG 2.x A/AA violations of the page as it is now: impact -> rule ids."""
    require(AXE_SCRIPT.is_file(), f"axe-core is not installed at {AXE_SCRIPT}: run `make web`")
    await page.add_script_tag(path=str(AXE_SCRIPT))
    found = await page.evaluate(
        """async () => {
            const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];
            const result = await axe.run(document, {runOnly: tags});
            const where = (node) => node.target.join(" ");
            return result.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map(where)}));
        }"""
    )
    by_impact: dict[str, list[str]] = {}
    for violation in found:
        nodes = violation["nodes"]
        impact = violation["impact"] or "unknown"
        by_impact.setdefault(impact, []).append(f"{violation['id']} x{len(nodes)} {nodes[:3]}")
    return by_impact


async def assert_accessible(page: Page, state: str) -> None:
    """No serious or critical axe-core violation in this state of the UI (the counts are printed)."""
    violations = await axe_violations(page)
    print(f"axe-core {state}: " + (", ".join(f"{k}={len(v)} {v}" for k, v in violations.items()) or "0 violations"))
    blocking = {impact: rules for impact, rules in violations.items() if impact in BLOCKING_IMPACTS}
    assert blocking == {}, f"axe-core found serious/critical violations in the {state} state: {blocking}"


async def send(page: Page, text: str) -> None:
    await page.get_by_test_id("composer").fill(text)
    await page.get_by_test_id("send").click()


async def wait_idle(page: Page) -> None:
    """The run is over: the composer's Send button is back (it is a Stop button while a run goes)."""
    await expect(page.get_by_test_id("send")).to_be_visible(timeout=60_000)


async def thread_of(page: Page) -> str:
    """The conversation's thread id, from the URL (the UI puts it there once the server made the thread)."""
    await page.wait_for_url(re.compile(r"[?&]thread="))
    return parse_qs(urlparse(page.url).query)["thread"][0]
