"""The web UI as a chat product, in Chromium against the real server and the offline model: markdown
replies, tool call rows, the file viewer, errors said inline, and keyboard-only use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph_sdk.client import LangGraphClient
from playwright.async_api import Locator, Page, expect

from deep_agent_service.server.devserver import DevServer
from tests.e2e.conftest import assert_accessible, screenshot, send, thread_of, wait_idle


async def open_ui(page: Page, server: DevServer, assistant: str | None = None) -> None:
    await page.goto(f"{server.url}/ui" + (f"?assistant={assistant}" if assistant else ""))
    await expect(page.get_by_test_id("empty-state")).to_be_visible()


async def tab_to(page: Page, target: Locator, presses: int = 40) -> None:
    """Press Tab until `target` has the focus (it must be reachable by keyboard) and check the ring shows."""
    for _ in range(presses):
        if await target.evaluate("(element) => element === document.activeElement"):
            outline = await target.evaluate("(element) => getComputedStyle(element).outlineStyle")
            assert outline != "none", "the focused element shows no focus ring"
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reachable with Tab")


async def final_run_status(api: LangGraphClient, thread: str) -> str:
    """The status of the thread's only run once it has ended (a cancel takes effect asynchronously)."""
    for _ in range(100):
        [run] = await api.runs.list(thread)
        if run["status"] not in ("pending", "running"):
            return str(run["status"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run of thread {thread} did not end within 10 s")


async def create_assistant(api: LangGraphClient, name: str, **settings: object) -> str:
    config = {"configurable": {"assistant_settings": settings}}
    return str((await api.assistants.create(graph_id="agent", name=name, config=config))["assistant_id"])


async def test_markdown_demo_renders_as_github_markdown_and_never_as_html(page: Page, ui_server: DevServer) -> None:
    await open_ui(page, ui_server)
    await send(page, "plan: draft; review")
    await wait_idle(page)
    await send(page, "run echo hello from the sandbox")
    await wait_idle(page)
    await send(page, "markdown demo")
    await wait_idle(page)
    reply = page.get_by_test_id("message-ai").last

    await expect(reply.locator("h2")).to_have_text("Markdown demo")
    await expect(reply.locator("table th")).to_have_text(["Tool", "What it does"])
    await expect(reply.locator("table tbody tr")).to_have_count(2)
    boxes = reply.locator("li.task-list-item input[type=checkbox]")
    await expect(boxes).to_have_count(2)
    await expect(boxes.first).to_be_checked()
    await expect(boxes.last).not_to_be_checked()
    await expect(boxes.first).to_be_disabled()
    code = reply.locator("pre code.hljs.language-python")
    await expect(code).to_contain_text('return f"Hello, {name}!"')
    await expect(code.locator(".hljs-keyword").first).to_have_text("def")
    link = reply.get_by_role("link", name="link")
    await expect(link).to_have_attribute("href", "https://example.com/docs")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    # The raw HTML is shown as the text the model wrote; no element was made from it.
    await expect(reply).to_contain_text('<img src="x" onerror="alert(1)">')
    await expect(reply.locator("img")).to_have_count(0)
    await expect(reply).not_to_contain_text("- [ ]")

    # The README's conversation: a plan, a tool call opened as a terminal, rendered markdown.
    await page.get_by_test_id("tool-call").filter(has_text="execute").locator("summary").click()
    await code.scroll_into_view_if_needed()
    await assert_accessible(page, "conversation")
    await screenshot(page, "conversation")


async def test_tool_calls_are_rows_with_a_status_that_expand_to_arguments_and_result(
    page: Page, ui_server: DevServer
) -> None:
    await open_ui(page, ui_server)
    await send(page, "run echo hello-terminal")
    await wait_idle(page)
    row = page.get_by_test_id("tool-call").last
    summary = row.locator("summary")
    await expect(summary).to_contain_text("execute")
    await expect(summary).to_contain_text("echo hello-terminal")
    await expect(row.get_by_test_id("tool-status")).to_have_text("done")
    result = row.get_by_test_id("tool-result")
    await expect(result).to_be_hidden()  # collapsed until opened
    await summary.click()
    await expect(row.locator("pre.terminal.command")).to_have_text("$ echo hello-terminal")
    await expect(result).to_have_class("terminal")
    await expect(result).to_contain_text("hello-terminal")

    # A long result is cut, with "show all" for the rest.
    await send(page, "run seq 1 3000")
    await wait_idle(page)
    row = page.get_by_test_id("tool-call").last
    await row.locator("summary").click()
    await expect(row.get_by_test_id("tool-result")).to_contain_text("\n100\n")
    await expect(row.get_by_test_id("tool-result")).not_to_contain_text("2999")
    await row.get_by_test_id("show-all").click()
    await expect(row.get_by_test_id("tool-result")).to_contain_text("\n2999\n")

    # Other tools show their arguments pretty-printed; a tool's error is an error.
    await send(page, "read /nowhere.md")
    await wait_idle(page)
    row = page.get_by_test_id("tool-call").last
    await expect(row.get_by_test_id("tool-status")).to_have_text("error")
    await row.locator("summary").click()
    await expect(row.get_by_test_id("tool-args")).to_have_text('{\n  "file_path": "/nowhere.md"\n}')


async def test_files_open_in_the_viewer_rendered_highlighted_and_downloadable(page: Page, ui_server: DevServer) -> None:
    await open_ui(page, ui_server)
    await send(page, "write /drafts/findings.md\n# Findings\n\n- [x] checked the numbers")
    await wait_idle(page)
    await send(page, "write /src/app.py\ndef main():\n    return 1")
    await wait_idle(page)
    await send(page, "edit /src/app.py: return 1 => return 2")
    await wait_idle(page)
    scratch = page.get_by_test_id("scratch-file").locator("code")
    await expect(scratch).to_have_text(["/drafts/findings.md", "/src/app.py"])

    viewer = page.get_by_test_id("file-viewer")
    await page.get_by_role("button", name="open /drafts/findings.md").click()
    await expect(viewer.locator("h1")).to_have_text("Findings")
    await expect(viewer.locator("input[type=checkbox]")).to_be_checked()
    async with page.expect_download() as download_info:
        await viewer.get_by_test_id("download").click()
    download = await download_info.value
    assert download.suggested_filename == "findings.md"
    saved = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    assert saved == "# Findings\n\n- [x] checked the numbers"
    await viewer.get_by_test_id("viewer-close").click()

    await page.get_by_role("button", name="open /src/app.py").click()
    code = viewer.locator("pre code.hljs.language-python")
    await expect(code).to_have_text("def main():\n    return 2")  # the edit applied
    await expect(code.locator(".hljs-keyword").first).to_have_text("def")
    await screenshot(page, "files")
    await page.keyboard.press("Escape")  # the viewer has the focus; Escape closes it
    await expect(viewer).to_be_hidden()

    # Memory files are read from the store when opened, not listed with their contents.
    await send(page, "remember the viewer reads on demand")
    await wait_idle(page)
    async with page.expect_request(lambda request: "/store/items?" in request.url) as read:
        await page.get_by_role("button", name="open /memories/notes.md").click()
    assert (await read.value).method == "GET"
    await expect(viewer.get_by_test_id("viewer-content")).to_contain_text("the viewer reads on demand")
    await expect(viewer.get_by_test_id("download")).to_be_visible()  # the agent may write /memories/
    await viewer.get_by_test_id("viewer-close").click()

    # Read-only mounts (org policies, skills) open too, with no download.
    await page.get_by_role("button", name="open /skills/summarize/SKILL.md").click()
    await expect(viewer.get_by_test_id("viewer-path")).to_have_text("/skills/summarize/SKILL.md")
    await expect(viewer).to_contain_text("read-only")
    await expect(viewer.get_by_test_id("viewer-content").locator("h1, h2").first).to_be_visible()
    await expect(viewer.get_by_test_id("download")).to_have_count(0)


async def test_errors_and_guardrail_stops_are_said_inline_with_what_to_do(
    page: Page, ui_server: DevServer, api: LangGraphClient
) -> None:
    # IP addresses: off by default (emails would be redacted before the agent sees them, so never blocked).
    careful = await create_assistant(api, "no-addresses", guardrails={"pii_ip": "block"})
    await open_ui(page, ui_server, careful)
    await send(page, "please connect to 203.0.113.7 for me")
    await wait_idle(page)
    stop = page.get_by_test_id("messages").locator('[data-kind="guardrail"]')
    await expect(stop).to_contain_text("Your message was blocked: it contains personal data (ip)")
    await expect(stop).to_contain_text("Remove it from the message and send it again")

    # A provider the server has no package for: the run fails when it builds the model.
    broken = await create_assistant(api, "not-installed", model="mistralai:mistral-small-latest")
    await open_ui(page, ui_server, broken)
    await send(page, "hello")
    failed = page.get_by_test_id("messages").get_by_test_id("run-error")
    await expect(failed).to_contain_text("The run failed")
    await expect(failed).to_contain_text("mistral")
    await expect(failed).to_contain_text("Send the message again")

    # The server goes away: the next message says so, and what to check.
    await open_ui(page, ui_server)
    await page.route("**/threads**", lambda route: route.abort("connectionrefused"))
    await send(page, "are you there?")
    gone = page.get_by_test_id("messages").locator('[data-kind="unreachable"]')
    await expect(gone).to_contain_text(f"Cannot reach the server at {ui_server.url}")
    await expect(gone).to_contain_text("make run")


async def test_keyboard_only_send_stop_switch_approve_edit_reject(  # noqa: PLR0915 - one flow, told in order
    page: Page, ui_server: DevServer, api: LangGraphClient
) -> None:
    careful = await create_assistant(api, "keyboard-writer", interrupt_on=["write_file"])
    await page.goto(f"{ui_server.url}/ui?assistant={careful}")
    composer = page.get_by_test_id("composer")
    await expect(page.get_by_test_id("empty-state")).to_be_visible()
    await tab_to(page, composer)

    # Send with Enter, stop with Escape.
    await page.keyboard.type("run sleep 20; echo never")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("tool-status")).to_have_text(["running"])  # the command is running
    stopped_thread = await thread_of(page)
    await page.keyboard.press("Escape")
    await wait_idle(page)
    stopped = page.get_by_test_id("messages").locator('[data-kind="stopped"]')
    await expect(stopped).to_contain_text("You stopped the run")
    assert await final_run_status(api, stopped_thread) == "interrupted"

    # Approve: the approval takes the focus, Enter approves.
    await page.get_by_test_id("new-thread").press("Enter")
    await tab_to(page, composer)
    await page.keyboard.type("write /memories/approved.md")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("yes")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("approve")).to_be_focused(timeout=60_000)
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("message-ai").last).to_contain_text("Updated file /memories/approved.md")
    await wait_idle(page)
    approved_thread = await thread_of(page)

    # Edit: Tab to Edit, change the JSON, Ctrl+Enter sends it.
    await tab_to(page, composer)
    await page.keyboard.type("write /memories/edited.md")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("draft")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("approve")).to_be_focused(timeout=60_000)
    await tab_to(page, page.get_by_test_id("edit"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("edit-args")).to_be_focused()
    await page.keyboard.press("Control+A")
    await page.keyboard.type('{"file_path": "/memories/edited.md", "content": "final"}')
    await page.keyboard.press("Control+Enter")
    await expect(page.get_by_test_id("message-ai").last).to_contain_text("Updated file /memories/edited.md")
    await wait_idle(page)

    # Reject: type a reason, Enter rejects; the tool call row says so.
    await tab_to(page, composer)
    await page.keyboard.type("write /memories/rejected.md")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("no")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("approve")).to_be_focused(timeout=60_000)
    await tab_to(page, page.get_by_test_id("reject-reason"))
    await page.keyboard.type("not now")
    await page.keyboard.press("Enter")
    await wait_idle(page)
    await expect(page.get_by_test_id("tool-status").last).to_have_text("rejected")
    namespace = ("acme", "private", careful, "alice")
    contents = {item["key"]: item["value"]["content"] for item in (await api.store.search_items(namespace))["items"]}
    assert contents == {"/approved.md": "yes", "/edited.md": "final"}

    # Switch threads: from a new conversation, Tab to the approvals' conversation, Enter opens it.
    await page.get_by_test_id("new-thread").press("Enter")
    await expect(page.get_by_test_id("empty-state")).to_be_visible()
    await tab_to(page, page.locator(f'[data-testid="thread"][title="{approved_thread}"]'), presses=60)
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("message-human")).to_have_count(3)
    assert await thread_of(page) == approved_thread
