"""The web UI at /ui, driven in Chromium against the real server: plans, memory across threads,
a reload during a run, approvals, and the credential on every call."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlparse

from langgraph_sdk.client import LangGraphClient
from playwright.async_api import Page, Request, expect

from deep_agent_service.server.devserver import DevServer
from tests.e2e.conftest import ADMIN_KEY, assert_accessible, screenshot, send, thread_of, wait_idle


async def runs_of(api: LangGraphClient, thread: str) -> list[str]:
    """The statuses of the thread's runs, once it has any (the run is created just after the thread)."""
    for _ in range(100):
        if runs := await api.runs.list(thread):
            return [run["status"] for run in runs]
        await asyncio.sleep(0.1)
    raise AssertionError(f"thread {thread} got no run within 10 s")


async def test_a_plan_shows_as_todos(page: Page, ui_server: DevServer) -> None:
    await page.goto(f"{ui_server.url}/ui")
    await expect(page.get_by_test_id("empty-state")).to_be_visible()
    await expect(page.get_by_test_id("who")).to_have_text("alice @ acme (admin)")
    await assert_accessible(page, "empty")
    await screenshot(page, "empty")

    await send(page, "plan: research the market; write the report")
    await wait_idle(page)
    await expect(page.get_by_test_id("todo")).to_have_text(["○ research the market", "○ write the report"])
    await expect(page.get_by_test_id("message-ai").last).to_contain_text("research the market")


async def test_a_memory_reaches_a_new_thread(page: Page, ui_server: DevServer) -> None:
    await page.goto(f"{ui_server.url}/ui")
    await send(page, "remember I like green tea")
    await wait_idle(page)
    first_thread = await thread_of(page)
    await expect(page.get_by_test_id("memory-file")).to_contain_text(["/memories/notes.md"])

    await page.get_by_test_id("new-thread").click()
    await expect(page.get_by_test_id("empty-state")).to_be_visible()
    await send(page, "what do you remember?")
    await wait_idle(page)
    assert await thread_of(page) != first_thread
    await expect(page.get_by_test_id("message-ai").last).to_contain_text("I like green tea")

    # The thread list holds both conversations and switches between them.
    await page.locator(f'[data-testid="thread"][title="{first_thread}"]').click()
    await expect(page.get_by_test_id("message-human").first).to_have_text("remember I like green tea")


async def test_a_reload_during_a_run_rejoins_it_and_never_resubmits(
    page: Page, ui_server: DevServer, api: LangGraphClient
) -> None:
    await page.goto(f"{ui_server.url}/ui")
    await send(page, "run sleep 4; echo slow-run-finished")
    await expect(page.get_by_test_id("working")).to_be_visible()
    thread = await thread_of(page)
    assert await runs_of(api, thread) in (["pending"], ["running"])

    await page.reload()
    await expect(page.get_by_test_id("message-human")).to_have_text(["run sleep 4; echo slow-run-finished"])
    await expect(page.get_by_test_id("message-ai").last).to_contain_text("slow-run-finished", timeout=60_000)
    await wait_idle(page)

    assert await runs_of(api, thread) == ["success"], "the reload must rejoin the run, not start another"
    state = await api.threads.get_state(thread)
    humans = [m for m in state["values"]["messages"] if m["type"] == "human"]
    assert len(humans) == 1
    answers = page.get_by_test_id("message-ai").get_by_test_id("message-text")
    await expect(answers.filter(has_text="slow-run-finished")).to_have_count(1)


async def test_an_approval_in_the_ui_resumes_the_run(page: Page, ui_server: DevServer, api: LangGraphClient) -> None:
    assistant = await api.assistants.create(
        graph_id="agent",
        name="careful-writer",
        config={"configurable": {"assistant_settings": {"interrupt_on": ["write_file"]}}},
    )
    await page.goto(f"{ui_server.url}/ui?assistant={assistant['assistant_id']}")
    await send(page, "write /memories/decision.md\nship on Friday")
    approval = page.get_by_test_id("approval")
    await expect(approval).to_be_visible(timeout=60_000)
    requested = page.get_by_test_id("approval-action")
    await expect(requested).to_contain_text('write_file({"file_path":"/memories/decision.md"')
    thread = await thread_of(page)
    assert (await api.threads.get(thread))["status"] == "interrupted"
    assert (await api.store.search_items(("acme", "private", assistant["assistant_id"], "alice")))["items"] == []
    await expect(page.get_by_test_id("tool-status")).to_have_text(["waiting"])
    await assert_accessible(page, "approval")
    await screenshot(page, "approval")

    await page.get_by_test_id("approve").click()
    await expect(approval).to_be_hidden()
    await expect(page.get_by_test_id("message-ai").last).to_contain_text("Updated file /memories/decision.md")
    await wait_idle(page)
    items = (await api.store.search_items(("acme", "private", assistant["assistant_id"], "alice")))["items"]
    assert [item["value"]["content"] for item in items] == ["ship on Friday"]
    assert (await api.threads.get(thread))["status"] == "idle"
    await expect(page.get_by_test_id("memory-file")).to_contain_text(["/memories/decision.md"])


async def test_every_api_call_carries_the_key_and_a_wrong_key_is_refused(
    page: Page, ui_server: DevServer, api: LangGraphClient
) -> None:
    thread = (await api.threads.create())["thread_id"]
    await api.runs.wait(thread, "agent", input={"messages": [{"role": "user", "content": "plan: one; two"}]})
    calls: list[Request] = []
    # Everything but the UI's own page and assets (those are static and public) is an API call.
    page.on("request", lambda request: None if urlparse(request.url).path.startswith("/ui") else calls.append(request))

    await page.goto(f"{ui_server.url}/ui?thread={thread}")
    await expect(page.get_by_test_id("todo")).to_have_count(2)
    await send(page, "plan: three")
    await wait_idle(page)
    await asyncio.sleep(0.5)  # let the post-run refreshes (threads, memories) go out
    paths = {urlparse(call.url).path for call in calls}
    assert any(re.fullmatch(r"/threads/[^/]+/history", path) for path in paths), paths
    assert any(path.endswith("/runs/stream") for path in paths), paths
    assert {"/whoami", "/assistants/search", "/threads/search", "/store/items/search"} <= paths
    without_key = [call.url for call in calls if call.headers.get("x-api-key") != ADMIN_KEY]
    assert without_key == []

    await page.get_by_test_id("credential").fill("not-a-key")
    await page.get_by_test_id("credential-save").click()
    # Said in the conversation column, where the user looks, with what to do.
    problem = page.locator("section.conversation").get_by_test_id("problem")
    await expect(problem).to_contain_text("The server refused the credential")
    await expect(problem).to_contain_text("Enter a valid API key or token")


async def test_subagent_progress_and_guardrail_events_show_in_the_side_panel(
    page: Page, ui_server: DevServer, api: LangGraphClient
) -> None:
    await page.goto(f"{ui_server.url}/ui")
    await send(page, "delegate: plan: gather; summarise")
    await wait_idle(page)
    subagent = page.get_by_test_id("subagent")
    await expect(subagent).to_have_count(1)
    await expect(subagent).to_contain_text("general-purpose")
    await expect(subagent).to_contain_text("complete")

    limited = await api.assistants.create(
        graph_id="agent",
        name="one-model-call",
        config={"configurable": {"assistant_settings": {"guardrails": {"model_call_run_limit": 1}}}},
    )
    await page.goto(f"{ui_server.url}/ui?assistant={limited['assistant_id']}")
    await send(page, "plan: a; b")  # a tool call and then an answer: two model calls
    await wait_idle(page)
    await expect(page.get_by_test_id("guardrail-event")).to_contain_text(["model_call_limit"])
    stop = page.get_by_test_id("messages").locator('[data-kind="guardrail"]')
    await expect(stop).to_contain_text("The run stopped at its limit of 1 model calls")
    await expect(stop).to_contain_text("Send a follow-up message")
