"""The Deep Agents UI `files` contract through a real server, used the way the stock UI uses it.

Deep Agents UIs show `values.files` (deepagents' `StateBackend` shape: path -> FileData) and save an
edit with `POST /threads/{id}/state {"values": {"files": {...files, [path]: "new text"}}}`. With
the default assistant the agent's scratch files live in the sandbox: they must appear in `files`,
and an edit must reach the sandbox (the agent reads it back) or be refused with a 4xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.sandbox_dirs import sandbox_root
from tests.support.server import serving

INLINE_CAP = 4096


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {"SANDBOX_ROOT": str(sandbox_root()), "SANDBOX_STATE_FILE_MAX_BYTES": str(INLINE_CAP)}
    with serving(Path(tmp_path_factory.mktemp("files-server")), env) as server:
        yield server


@pytest.fixture
async def sdk(files_server: DevServer) -> AsyncIterator[LangGraphClient]:
    yield connect(url=files_server.url)


async def _files(sdk: LangGraphClient, thread_id: str) -> dict[str, Any]:
    state = await sdk.threads.get_state(thread_id)
    files: dict[str, Any] = state["values"].get("files") or {}
    return files


async def test_a_written_file_appears_in_state_files_in_the_state_backend_shape(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "write /report.md\n# Findings\nall good", thread_id=thread)
    await ask(sdk, "run mkdir -p /work && echo made by a command > /work/out.txt", thread_id=thread)

    files = await _files(sdk, thread)
    assert files["/report.md"]["content"] == "# Findings\nall good"
    assert files["/report.md"]["encoding"] == "utf-8"
    assert {"created_at", "modified_at"} <= files["/report.md"].keys()
    assert files["/work/out.txt"]["content"] == "made by a command\n"
    # system directories of the sandbox and memory mounts are not scratch files
    assert not [path for path in files if path.startswith(("/usr/", "/etc/", "/proc/", "/memories/", "/skills/"))]


async def test_a_deleted_file_leaves_state_files(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "write /gone.txt\nsoon gone", thread_id=thread)
    assert "/gone.txt" in await _files(sdk, thread)
    await ask(sdk, "run rm /gone.txt", thread_id=thread)
    assert "/gone.txt" not in await _files(sdk, thread)


async def test_large_and_binary_files_are_listed_not_inlined(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, f"run head -c {INLINE_CAP + 1} /dev/zero | tr '\\0' a > /big.txt", thread_id=thread)
    await ask(sdk, "run printf '\\000\\377\\020' > /blob.bin", thread_id=thread)

    files = await _files(sdk, thread)
    assert "a" * 100 not in files["/big.txt"]["content"]
    assert str(INLINE_CAP + 1) in files["/big.txt"]["content"]  # the placeholder says how big it is
    assert "binary" in files["/blob.bin"]["content"]


async def test_an_edit_saved_like_the_stock_ui_reaches_the_sandbox(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "write /draft.txt\nfirst version", thread_id=thread)
    files = await _files(sdk, thread)

    # deep-agents-ui FilesPopover.handleSaveFile: setFiles({ ...files, [fileName]: content })
    await sdk.threads.update_state(thread, {"files": {**files, "/draft.txt": "edited in the UI"}})

    assert (await _files(sdk, thread))["/draft.txt"]["content"] == "edited in the UI"
    assert "edited in the UI" in await ask(sdk, "read /draft.txt", thread_id=thread)
    assert "edited in the UI" in await ask(sdk, "run cat /draft.txt", thread_id=thread)
    # after the run the state holds the sandbox's file again, in the FileData shape
    assert (await _files(sdk, thread))["/draft.txt"]["encoding"] == "utf-8"


async def test_a_new_file_added_through_state_reaches_the_sandbox(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "write /first.txt\none", thread_id=thread)
    await sdk.threads.update_state(thread, {"files": {"/added.txt": "added through state"}})
    assert "added through state" in await ask(sdk, "run cat /added.txt", thread_id=thread)


async def test_files_given_as_run_input_reach_the_sandbox(sdk: LangGraphClient) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    result = await sdk.runs.wait(
        thread,
        "agent",
        input={"messages": [{"role": "user", "content": "run cat /given.txt"}], "files": {"/given.txt": "from input"}},
        raise_error=True,
    )
    assert "from input" in str(result["messages"][-1]["content"])


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"/memories/notes.md": "x"}, ["/memories/", "store"]),
        ({"/skills/x.md": "x"}, ["/skills/"]),
        ({"relative.txt": "x"}, ["absolute"]),
        ({"/a/../etc/passwd": "x"}, [".."]),
        ({"/n.txt": 5}, ["text"]),
        ({"/n.txt": None}, ["delete"]),
        ({"/n.txt": "x" * (INLINE_CAP * 300)}, ["bytes"]),
    ],
)
async def test_an_edit_that_cannot_be_applied_is_refused_with_a_4xx(
    sdk: LangGraphClient, files_server: DevServer, files: dict[str, Any], words: list[str]
) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "write /keep.txt\nkept", thread_id=thread)
    async with httpx.AsyncClient(base_url=files_server.url) as http:
        response = await http.post(f"/threads/{thread}/state", json={"values": {"files": files}})
    assert 400 <= response.status_code < 500, response.text
    detail = response.text.lower()
    assert all(word.lower() in detail for word in words), detail
    assert (await _files(sdk, thread))["/keep.txt"]["content"] == "kept"  # nothing applied


async def test_a_run_input_with_unusable_files_is_refused(sdk: LangGraphClient, files_server: DevServer) -> None:
    thread = (await sdk.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=files_server.url) as http:
        response = await http.post(
            f"/threads/{thread}/runs/wait",
            json={"assistant_id": "agent", "input": {"messages": [], "files": {"/policies/p.md": "mine now"}}},
        )
    assert response.status_code == 422, response.text
    assert "/policies/" in response.text


async def test_without_a_sandbox_a_ui_edit_is_stored_as_a_file_the_agent_reads(sdk: LangGraphClient) -> None:
    assistant = await sdk.assistants.create(
        "agent", config={"configurable": {"assistant_settings": {"sandbox_scope": "none"}}}
    )
    thread = (await sdk.threads.create())["thread_id"]
    await ask(sdk, "write /scratch.txt\nin state", assistant_id=assistant["assistant_id"], thread_id=thread)
    files = await _files(sdk, thread)
    assert files["/scratch.txt"]["content"] == "in state"  # StateBackend's own file

    await sdk.threads.update_state(thread, {"files": {**files, "/scratch.txt": "edited"}})
    assert (await _files(sdk, thread))["/scratch.txt"]["encoding"] == "utf-8"  # a FileData, not a bare string
    reply = await ask(sdk, "read /scratch.txt", assistant_id=assistant["assistant_id"], thread_id=thread)
    assert "edited" in reply
