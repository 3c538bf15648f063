"""Memory boundaries through a real server: one canonical path, private memory in per-user boxes only,
quotas on what a sandbox writes back.

Users (api_keys auth) of one org: alice (admin), bob and erin (members). Every attack goes through
`langgraph dev` with the offline model, whose script drives the agent's real tools; what landed is
then read back through the HTTP store API. Each attempt is counted in `SANDBOX_ESCAPES` (path and
sandbox attacks) or `CROSS_USER` (one user's memory reaching another), printed at the end of the run.
"""

from __future__ import annotations

import json
import posixpath
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from deep_agent_service.client import connect
from deep_agent_service.server.devserver import DevServer
from tests.support.chat import ask
from tests.support.sandbox_dirs import sandbox_root
from tests.support.server import api_keys_env, launch
from tests.support.tally import CROSS_USER, SANDBOX_ESCAPES

PEOPLE = {"alice": ("acme", "admin"), "bob": ("acme", "member"), "erin": ("acme", "member")}
MAX_FILES = 12
MAX_FILE_BYTES = 2048
SERVER_ENV = {
    "DEPLOYMENT_NAME": "bounds",
    "MEMORY_MAX_FILES": str(MAX_FILES),
    "MEMORY_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
    "SANDBOX_TIMEOUT_SECONDS": "30",
}
PLANTED = "PLANTED-" + secrets.token_hex(4)
READ_ONLY = ("/shared", "/policies", "/skills")
WRITABLE = ("/memories", "/profile")


@dataclass
class Deployment:
    """One server (restartable on the same data) and an SDK client per person."""

    server: DevServer
    keys: dict[str, str]
    start: Callable[[], DevServer]

    def client(self, name: str) -> LangGraphClient:
        return connect(url=self.server.url, api_key=self.keys[name])

    def restart(self) -> None:
        self.server.stop()
        self.server = self.start()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    keys = {name: f"test-{name}-{secrets.token_urlsafe(12)}" for name in PEOPLE}
    table = {keys[name]: {"user": name, "org": org, "role": role} for name, (org, role) in PEOPLE.items()}
    workdir = Path(tmp_path_factory.mktemp("boundaries"))
    env = {**api_keys_env(table), **SERVER_ENV, "SANDBOX_ROOT": str(sandbox_root())}

    def start() -> DevServer:
        return launch(workdir, env=env)

    current = Deployment(server=start(), keys=keys, start=start)
    try:
        yield current
    finally:
        current.server.stop()


async def new_assistant(deployment: Deployment, **settings: Any) -> str:
    created = await deployment.client("alice").assistants.create(
        graph_id="agent", config={"configurable": {"assistant_settings": settings}}, name=f"a-{uuid.uuid4().hex[:6]}"
    )
    aid = str(created["assistant_id"])
    await ask(deployment.client("alice"), "hello", assistant_id=aid)  # the first run seeds its namespaces
    return aid


async def items(client: LangGraphClient, namespace: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Every item directly in `namespace` (key -> value), read through the HTTP store API."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = (await client.store.search_items(namespace, limit=100, offset=offset))["items"]
        found.update({item["key"]: item["value"] for item in page if tuple(item["namespace"]) == namespace})
        if len(page) < 100:
            return found
        offset += 100


def namespaces(assistant_id: str, user: str) -> dict[str, tuple[str, ...]]:
    return {
        "/memories": ("acme", "private", assistant_id, user),
        "/profile": ("acme", "user", user),
        "/shared": ("acme", "assistant", assistant_id),
        "/policies": ("acme", "org"),
        "/skills": ("acme", "skills", assistant_id),
    }


def escape(what: str, escaped: bool) -> None:
    SANDBOX_ESCAPES.attempts += 1
    if escaped:
        SANDBOX_ESCAPES.escapes.append(what)


def cross_user(what: str, leaked: bool) -> None:
    CROSS_USER.attempts += 1
    if leaked:
        CROSS_USER.leaks.append(what)


# --- 1. one canonical path ---------------------------------------------------------------------------


async def test_a_member_cannot_write_a_read_only_mount_through_its_bare_path(deployment: Deployment) -> None:
    """The red-team finding: `write /policies` answered "Updated file /policies" and planted key `/`."""
    aid = await new_assistant(deployment)
    bob, erin, alice = (deployment.client(n) for n in ("bob", "erin", "alice"))
    before = {mount: await items(alice, ns) for mount, ns in namespaces(aid, "bob").items() if mount in READ_ONLY}
    replies: dict[str, str] = {}
    for mount in READ_ONLY:
        for spelling in (mount, mount + "/"):
            replies[f"write {spelling}"] = await ask(bob, f"write {spelling}\n{PLANTED}", assistant_id=aid)
            replies[f"edit {spelling}"] = await ask(bob, f"edit {spelling}: {PLANTED} => x", assistant_id=aid)
            replies[f"delete {spelling}"] = await ask(bob, f"delete {spelling}", assistant_id=aid)
    for mount in READ_ONLY:
        seen_by_erin = await ask(erin, f"read {mount}", assistant_id=aid)
        after = await items(alice, namespaces(aid, "bob")[mount])
        escape(f"bare {mount}: store changed", after != before[mount])
        escape(f"bare {mount}: erin read the plant", PLANTED in seen_by_erin)
        assert after == before[mount], f"{mount}: {sorted(after)} (was {sorted(before[mount])})"
        assert PLANTED not in seen_by_erin
    for what, reply in replies.items():
        escape(what, not reply.startswith("Error"))
        assert reply.startswith("Error"), f"{what}: {reply}"
        assert "Updated file" not in reply and "Deleted" not in reply


def spellings(mount: str) -> dict[str, str]:
    """Ways to name `<mount>/x.md` (or the mount itself) that must all land on ONE canonical path or be refused."""
    name = mount.strip("/")
    return {
        "bare": mount,
        "trailing slash": mount + "/",
        "double slash root": "//" + name + "/x.md",
        "double slash inner": mount + "//x1.md",
        "dot segment": mount + "/./x2.md",
        "leading dot segment": "/." + mount + "/x3.md",
        "dot-dot from memories": "/memories/../" + name + "/x.md",
        "dot-dot inside": mount + "/sub/../x.md",
        "percent-encoded letter": "/%" + f"{ord(name[0]):02x}" + name[1:] + "/x.md",
        "percent-encoded slash": mount + "%2Fx.md",
        "percent-encoded dot-dot": mount + "/%2e%2e/x.md",
        "fullwidth letter (NFKC)": "/" + chr(ord(name[0]) - ord("a") + ord("ａ")) + name[1:] + "/x.md",
        "fullwidth solidus (NFKC)": mount + "\uff0fx.md",
        "decomposed accent (NFD)": mount + "/cafe\u0301.md",
        "zero-width space": mount[:3] + "\u200b" + mount[3:] + "/x.md",
        "NUL": mount + "/x\x00.md",
        "long component": mount + "/" + "a" * 300 + ".md",
        "long path": mount + "/" + "d/" * 700 + "x.md",
    }


# A spelling that names `<mount>/x.md` canonically, once `//` and `/./` collapse.
COLLAPSING = {"double slash root", "double slash inner", "dot segment", "leading dot segment"}


def calls_for(mount: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for label, path in spellings(mount).items():
        calls.append({"name": "write_file", "args": {"file_path": path, "content": PLANTED}, "label": label})
        calls.append(
            {"name": "edit_file", "args": {"file_path": path, "old_string": "a", "new_string": PLANTED}, "label": label}
        )
        calls.append({"name": "delete", "args": {"file_path": path}, "label": label})
    return calls


def rounds(calls: list[dict[str, Any]]) -> list[list[int]]:
    """Calls split into turns in which no two name the same file: deepagents refuses parallel changes
    of one path (after its own normalisation), which would hide what the service does with them."""
    turns: list[tuple[set[str], list[int]]] = []
    for index, call in enumerate(calls):
        key = posixpath.normpath("/" + call["args"]["file_path"].lstrip("/"))
        turn = next((t for t in turns if key not in t[0]), None)
        if turn is None:
            turn = (set(), [])
            turns.append(turn)
        turn[0].add(key)
        turn[1].append(index)
    return [indices for _, indices in turns]


async def run_calls(client: LangGraphClient, calls: list[dict[str, Any]], assistant_id: str) -> list[str]:
    """The offline model's `calls` script (parallel calls in one turn; the reply lists each result)."""
    results: list[str] = [""] * len(calls)
    for indices in rounds(calls):
        script = [{"name": calls[i]["name"], "args": calls[i]["args"]} for i in indices]
        reply = await ask(client, "calls " + json.dumps(script), assistant_id=assistant_id)
        answers = json.loads(reply)
        assert isinstance(answers, list) and len(answers) == len(indices), reply[:500]
        for i, answer in zip(indices, answers, strict=True):
            results[i] = str(answer)
    return results


def canonical_key(key: str) -> bool:
    """What a store key in a mount namespace may look like: the canonical path of a file below the mount."""
    parts = key.split("/")
    return (
        key.startswith("/")
        and key != "/"
        and all(parts[1:])
        and "." not in parts
        and ".." not in parts
        and "\x00" not in key
        and "%" not in key
        and unicodedata.normalize("NFKC", key) == key
        and "\u200b" not in key
        and len(key) <= 1024
    )


@pytest.mark.parametrize("mount", READ_ONLY + WRITABLE)
async def test_every_spelling_of_every_mount_lands_on_one_canonical_path_or_is_refused(
    deployment: Deployment, mount: str
) -> None:
    aid = await new_assistant(deployment)
    bob, alice = deployment.client("bob"), deployment.client("alice")
    reader = alice if mount in READ_ONLY else bob
    watched = {m: ns for m, ns in namespaces(aid, "bob").items()}
    before = {m: await items(alice if m in READ_ONLY else bob, ns) for m, ns in watched.items()}
    calls = calls_for(mount)
    results = await run_calls(bob, calls, aid)

    for call, result in zip(calls, results, strict=True):
        what = f"{call['name']} {mount} [{call['label']}]"
        accepted = not result.startswith("Error")
        allowed = mount in WRITABLE and call["label"] in COLLAPSING
        escape(what, accepted and not allowed)
        assert not accepted or allowed, f"{what} was accepted: {result[:200]}"
        if not accepted:
            assert "Traceback" not in result and "parallel file mutations" not in result, f"{what}: {result[:300]}"

    for m, namespace in watched.items():
        after = await items(alice if m in READ_ONLY else reader if m == mount else bob, namespace)
        if m in READ_ONLY:
            escape(f"{mount} spellings changed {m}", after != before[m])
            assert after == before[m], f"{m} changed: {sorted(set(after) ^ set(before[m]))}"
        bad = sorted(key for key in after if not canonical_key(key))
        escape(f"{mount} spellings left non-canonical keys in {m}", bool(bad))
        assert not bad, f"{m} holds non-canonical keys {bad!r}"


async def test_a_subagent_without_the_services_middleware_is_refused_by_the_store_backend(
    deployment: Deployment,
) -> None:
    """The `task` subagent has deepagents' own tools only (no guard): the mount's store backend refuses."""
    aid = await new_assistant(deployment)
    bob, alice = deployment.client("bob"), deployment.client("alice")
    before = {mount: await items(alice, ns) for mount, ns in namespaces(aid, "bob").items() if mount in READ_ONLY}
    for attack in ("write /policies", "write //skills/x.md", "write /shared/./x.md", "write /memories"):
        reply = await ask(bob, f"delegate: {attack}\n{PLANTED}", assistant_id=aid)
        escape(f"subagent {attack}", "Updated file" in reply)
        assert "Updated file" not in reply and "Error" in reply, reply
    for mount in READ_ONLY:
        after = await items(alice, namespaces(aid, "bob")[mount])
        escape(f"subagent changed {mount}", after != before[mount])
        assert after == before[mount], mount
    assert "/" not in await items(bob, namespaces(aid, "bob")["/memories"])


async def test_the_mount_root_is_refused_with_a_clear_error(deployment: Deployment) -> None:
    aid = await new_assistant(deployment)
    bob = deployment.client("bob")
    for mount in WRITABLE:
        reply = await ask(bob, f"write {mount}\nnotes", assistant_id=aid)
        escape(f"write {mount} (mount root)", not reply.startswith("Error"))
        assert reply.startswith("Error") and "mount" in reply and f"{mount}/" in reply, reply
    # ...and the files under it stay: deleting the bare mount must not empty the whole namespace
    assert "Updated file /memories/keep.md" in await ask(bob, "write /memories/keep.md\nkeep me", assistant_id=aid)
    reply = await ask(bob, "delete /memories", assistant_id=aid)
    escape("delete /memories (mount root)", not reply.startswith("Error"))
    assert reply.startswith("Error"), reply
    assert "keep me" in await ask(bob, "read /memories/keep.md", assistant_id=aid)


# --- 2. private memory never enters a box another user can open ----------------------------------------


async def test_an_assistant_scoped_box_never_shows_one_users_memory_to_another(deployment: Deployment) -> None:
    """bob's memories synced into the assistant's box; after a restart erin uses the same assistant."""
    aid = await new_assistant(deployment, sandbox_scope="assistant")
    bob, erin = deployment.client("bob"), deployment.client("erin")
    secret = "bob-secret-" + secrets.token_hex(4)
    assert "remember" in await ask(bob, f"remember {secret}", assistant_id=aid)
    assert "Updated file" in await ask(bob, f"write /profile/bob.md\n{secret}", assistant_id=aid)
    assert secret in await ask(bob, "run cat /memories/notes.md /profile/bob.md", assistant_id=aid)
    await ask(bob, f"run echo {secret}-from-box > /memories/box.md", assistant_id=aid)

    deployment.restart()
    bob, erin = deployment.client("bob"), deployment.client("erin")

    seen = await ask(erin, "run cat /memories/* /profile/* 2>&1; ls -laR /memories /profile 2>&1", assistant_id=aid)
    cross_user("erin cats bob's synced memory in the assistant box", secret in seen)
    assert secret not in seen, seen[:1000]
    # every file erin's box holds, searched for bob's secret (spelt in two halves, so no command line holds it)
    head, tail = secret[:8], secret[8:]
    grep = f'p={head}; grep -rl "${{p}}{tail}" / --exclude-dir=proc --exclude-dir=usr 2>/dev/null | sed "s/^/FOUND /"'
    searched = await ask(erin, f"run {grep}; echo searched", assistant_id=aid)
    cross_user("bob's secret anywhere in erin's box", "FOUND" in searched)
    assert "searched" in searched and "FOUND" not in searched, searched[:1000]
    for path in ("/memories/box.md", "/memories/notes.md", "/profile/bob.md"):
        read = await ask(erin, f"read {path}", assistant_id=aid)
        cross_user(f"erin's file tools read bob's {path}", secret in read)
        assert secret not in read, read[:500]
    # erin plants files where bob's copy would be, then bob runs: nothing of erin's reaches bob's memory
    await ask(erin, "run echo erin-plant > /memories/notes.md; echo erin-plant > /profile/bob.md", assistant_id=aid)
    await ask(bob, "run true", assistant_id=aid)

    erin_private = await items(erin, namespaces(aid, "erin")["/memories"])
    erin_profile = await items(erin, namespaces(aid, "erin")["/profile"])
    erin_has = json.dumps([erin_private, erin_profile])
    cross_user("write-back copied bob's files into erin's namespaces", secret in erin_has)
    assert secret not in erin_has, sorted(erin_private)
    bob_private = await items(bob, namespaces(aid, "bob")["/memories"])
    bob_profile = await items(bob, namespaces(aid, "bob")["/profile"])
    bob_has = json.dumps([bob_private, bob_profile])
    cross_user("erin planted a file in bob's memory", "erin-plant" in bob_has)
    assert "erin-plant" not in bob_has
    in_bobs_box = await ask(bob, "run cat /memories/notes.md /profile/bob.md 2>&1", assistant_id=aid)
    cross_user("erin's planted files in bob's box", "erin-plant" in in_bobs_box)
    assert "erin-plant" not in in_bobs_box, in_bobs_box[:500]
    # bob's own box work did come back, to bob, with provenance
    assert f"{secret}-from-box" in bob_private["/box.md"]["content"]
    assert bob_private["/box.md"]["written_by"]["user"] == "bob"
    # and bob still finds his box after the restart (where the same search does find his file)
    assert f"{secret}-from-box" in await ask(bob, "run cat /memories/box.md", assistant_id=aid)
    assert "FOUND /memories/box.md" in await ask(bob, f"run {grep}; echo searched", assistant_id=aid)


# --- 3. quotas on write-back, and mounts that exist in the box ----------------------------------------


async def test_a_first_run_can_write_into_every_writable_mount_of_its_box(deployment: Deployment) -> None:
    aid = await new_assistant(deployment)
    erin = deployment.client("erin")
    reply = await ask(
        erin, "run echo x > /memories/a.md && echo y > /profile/first.md && ls -d /skills /policies", assistant_id=aid
    )
    assert "Directory nonexistent" not in reply and "No such file" not in reply, reply
    assert (await items(erin, namespaces(aid, "erin")["/memories"]))["/a.md"]["content"].strip() == "x"


async def test_write_back_obeys_the_memory_quotas_and_says_what_it_skipped(deployment: Deployment) -> None:
    aid = await new_assistant(deployment)
    bob = deployment.client("bob")
    big = MAX_FILE_BYTES + 500
    command = (
        "mkdir -p /memories/q && for i in $(seq 1 20); do echo note $i > /memories/q/$i.md; done; "
        f"head -c {big} /dev/zero | tr '\\0' a > /memories/big.md; echo done"
    )
    reply = await ask(bob, f"run {command}", assistant_id=aid)
    stored = await items(bob, namespaces(aid, "bob")["/memories"])
    escape("write-back past MEMORY_MAX_FILES", len(stored) > MAX_FILES)
    escape("write-back past MEMORY_MAX_FILE_BYTES", any(len(v["content"]) > MAX_FILE_BYTES for v in stored.values()))
    assert len(stored) <= MAX_FILES, len(stored)
    assert "/big.md" not in stored
    assert "MEMORY_MAX_FILES" in reply and "MEMORY_MAX_FILE_BYTES" in reply, reply
    assert "/memories/big.md" in reply


async def test_write_back_keys_are_canonical_and_read_only_mounts_never_come_back(deployment: Deployment) -> None:
    aid = await new_assistant(deployment)
    bob, alice = deployment.client("bob"), deployment.client("alice")
    before = {m: await items(alice, ns) for m, ns in namespaces(aid, "bob").items() if m in READ_ONLY}
    command = (
        "echo one > /memories//dbl.md; "
        "printf x > \"/memories/$(printf 'new\\nline').md\"; "
        "printf x > /memories/％2e.md; printf x > /memories/%2e%2e.md; "
        f"mkdir -p /memories/{'d/' * 400} && printf x > /memories/{'d/' * 400}deep.md; "
        f"echo {PLANTED} > /policies/evil.md; echo {PLANTED} > /shared/evil.md; "
        f"mkdir -p /skills/evil && echo {PLANTED} > /skills/evil/SKILL.md; echo done"
    )
    await ask(bob, f"run {command}", assistant_id=aid)
    stored = await items(bob, namespaces(aid, "bob")["/memories"])
    bad = sorted(key for key in stored if not canonical_key(key))
    escape("write-back stored non-canonical keys", bool(bad))
    assert not bad, bad
    assert stored["/dbl.md"]["content"].strip() == "one"
    for mount in READ_ONLY:
        after = await items(alice, namespaces(aid, "bob")[mount])
        escape(f"write-back reached {mount}", after != before[mount])
        assert after == before[mount], mount
