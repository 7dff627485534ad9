"""The official `e2b` SDK, unmodified, against sandboxer's E2B-compatible API
on compose-ssh sandboxes: what an agent written for E2B does, end to end."""

import asyncio
import datetime
import os
import time
import uuid

import httpx
import pytest
from e2b import (
    AsyncSandbox,
    AuthenticationException,
    CommandExitException,
    FileNotFoundException,
    Sandbox,
    SandboxException,
    SandboxNotFoundException,
    SandboxQuery,
)
from e2b.sandbox.commands.command_handle import PtySize
from e2b.sandbox.filesystem.filesystem import WriteEntry
from e2b.sandbox.filesystem.watch_handle import FilesystemEventType

from conftest import sandboxer_only


def test_a_sandbox_is_created_worked_in_listed_and_killed(template, record_id):
    run = uuid.uuid4().hex[:12]
    sbx = Sandbox.create(template=template, metadata={"suite": run, "owner": "e2e"}, timeout=600)
    record_id(sbx.sandbox_id)
    try:
        # Output arrives line by line while the command runs.
        seen = []
        result = sbx.commands.run(
            "for i in 1 2 3; do echo line$i; sleep 0.4; done; echo done >&2",
            on_stdout=lambda line: seen.append((time.monotonic(), line)),
        )
        finished = time.monotonic()
        assert [line.strip() for _, line in seen] == ["line1", "line2", "line3"]
        assert finished - seen[0][0] > 0.7, "the first line came only at the end"
        assert result.exit_code == 0
        assert result.stdout == "line1\nline2\nline3\n"
        assert result.stderr == "done\n"

        # A failing command raises with its exit code and output.
        with pytest.raises(CommandExitException) as failed:
            sbx.commands.run("echo oops >&2; exit 3")
        assert failed.value.exit_code == 3
        assert failed.value.stderr == "oops\n"

        # Environment and working folder.
        out = sbx.commands.run("echo $GREETING; pwd", envs={"GREETING": "hello"}, cwd="/tmp")
        assert out.stdout == "hello\n/tmp\n"

        # A background command is listed, killed, and gone.
        handle = sbx.commands.run("sleep 300", background=True)
        assert handle.pid in [p.pid for p in sbx.commands.list()]
        assert handle.kill() is True
        with pytest.raises(CommandExitException) as killed:
            handle.wait()
        assert killed.value.exit_code == -1
        assert handle.pid not in [p.pid for p in sbx.commands.list()]
        assert sbx.commands.kill(handle.pid) is False  # it has ended
        assert sbx.is_running()

        # stdin.
        cat = sbx.commands.run("cat", background=True, stdin=True)
        sbx.commands.send_stdin(cat.pid, "to cat\n")
        sbx.commands.stream_input(cat.pid, iter(["streamed ", b"in\n"]))
        sbx.commands.close_stdin(cat.pid)
        assert cat.wait().stdout == "to cat\nstreamed in\n"

        # Files: written (folders made), read, listed, binary, renamed, removed.
        sbx.files.write("/tmp/e2b/notes/hello.txt", "hello world\n")
        assert sbx.files.read("/tmp/e2b/notes/hello.txt") == "hello world\n"
        names = [e.name for e in sbx.files.list("/tmp/e2b/notes")]
        assert names == ["hello.txt"]
        deep = {e.path for e in sbx.files.list("/tmp/e2b", depth=2)}
        assert "/tmp/e2b/notes/hello.txt" in deep
        blob = bytes(range(256)) * 64
        sbx.files.write("/tmp/e2b/blob.bin", blob)
        assert bytes(sbx.files.read("/tmp/e2b/blob.bin", format="bytes")) == blob
        assert sbx.files.get_info("/tmp/e2b/blob.bin").size == len(blob)
        assert sbx.commands.run("cat /tmp/e2b/notes/hello.txt").stdout == "hello world\n"
        sbx.files.write_files([WriteEntry(path="/tmp/e2b/a.txt", data="a"), WriteEntry(path="/tmp/e2b/b.txt", data=b"b")])
        assert sbx.commands.run("cat /tmp/e2b/a.txt /tmp/e2b/b.txt").stdout == "ab"
        assert sbx.files.exists("/tmp/e2b/blob.bin")
        assert sbx.files.make_dir("/tmp/e2b/made/deep") is True
        assert sbx.files.make_dir("/tmp/e2b/made/deep") is False
        moved = sbx.files.rename("/tmp/e2b/blob.bin", "/tmp/e2b/moved.bin")
        assert moved.path == "/tmp/e2b/moved.bin"
        sbx.files.remove("/tmp/e2b/moved.bin")
        assert not sbx.files.exists("/tmp/e2b/moved.bin")
        with pytest.raises(FileNotFoundException):
            sbx.files.read("/tmp/e2b/moved.bin")

        # The timeout moves the end.
        sbx.set_timeout(1800)
        end = sbx.get_info().end_at
        now = datetime.datetime.now(datetime.timezone.utc)
        assert datetime.timedelta(minutes=29) < end - now <= datetime.timedelta(minutes=30, seconds=5)

        # Listed by metadata: this sandbox, and nothing for other metadata.
        listed = Sandbox.list(query=SandboxQuery(metadata={"suite": run})).next_items()
        assert [s.sandbox_id for s in listed] == [sbx.sandbox_id]
        assert listed[0].metadata == {"suite": run, "owner": "e2e"}
        assert template in (listed[0].template_id, listed[0].name)
        assert Sandbox.list(query=SandboxQuery(metadata={"suite": "other"})).next_items() == []
        assert sbx.get_metrics()[0].cpu_count >= 1
    finally:
        assert sbx.kill() is True
    assert Sandbox.kill(sbx.sandbox_id) is False
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info(sbx.sandbox_id)


def test_create_options_terminals_and_reconnecting(template, record_id):
    run = uuid.uuid4().hex[:12]
    # envs given at create reach every command; a repeated create with the
    # same idempotency key is the same sandbox.
    sbx = Sandbox.create(template=template, envs={"FROM_CREATE": "yes"}, idempotency_key=f"e2e-{run}")
    record_id(sbx.sandbox_id)
    try:
        again = Sandbox.create(template=template, envs={"FROM_CREATE": "yes"}, idempotency_key=f"e2e-{run}")
        assert again.sandbox_id == sbx.sandbox_id
        assert sbx.commands.run("echo $FROM_CREATE").stdout == "yes\n"
        assert sbx.commands.run("echo $FROM_CREATE", envs={"FROM_CREATE": "overridden"}).stdout == "overridden\n"

        # A terminal: input typed, its size changed, killed.
        out = []
        terminal = sbx.pty.create(PtySize(rows=24, cols=80), timeout=60)
        sbx.pty.send_stdin(terminal.pid, b"stty size; echo typed-$((6*7))\n")
        sbx.pty.resize(terminal.pid, PtySize(rows=30, cols=100))
        sbx.pty.send_stdin(terminal.pid, b"stty size; exit\n")
        result = terminal.wait(on_pty=lambda data: out.append(bytes(data)))
        text = b"".join(out).decode(errors="replace")
        assert "typed-42" in text, text
        assert "24 80" in text and "30 100" in text, text
        assert result.exit_code == 0

        # A background command, reconnected to by pid.
        handle = sbx.commands.run("sleep 1; echo late", background=True)
        handle.disconnect()
        joined = sbx.commands.connect(handle.pid)
        assert joined.wait().stdout.endswith("late\n")

        # Pages of a list.
        listed = Sandbox.list(limit=1).next_items()
        assert len(listed) == 1
    finally:
        sbx.kill()


def test_a_paused_sandbox_resumes_on_connect(template, record_id):
    sbx = Sandbox.create(template=template, timeout=600)
    record_id(sbx.sandbox_id)
    try:
        sbx.files.write("/tmp/kept.txt", "kept")
        assert sbx.pause() is True
        assert Sandbox.pause(sbx.sandbox_id) is False  # already paused
        assert Sandbox.get_info(sbx.sandbox_id).state.value == "paused"
        again = Sandbox.connect(sbx.sandbox_id)
        assert again.get_info().state.value == "running"
        assert again.files.read("/tmp/kept.txt") == "kept"
        assert again.commands.run("echo back").stdout == "back\n"
    finally:
        sbx.kill()


def test_a_folder_is_watched(template, record_id):
    sbx = Sandbox.create(template=template, timeout=600)
    record_id(sbx.sandbox_id)
    try:
        sbx.files.make_dir("/tmp/watched")
        watcher = sbx.files.watch_dir("/tmp/watched")
        sbx.files.write("/tmp/watched/new.txt", "x")
        events = watcher.get_new_events()
        assert ("new.txt", FilesystemEventType.CREATE) in [(e.name, e.type) for e in events]
        sbx.files.remove("/tmp/watched/new.txt")
        events = watcher.get_new_events()
        assert ("new.txt", FilesystemEventType.REMOVE) in [(e.name, e.type) for e in events]
        watcher.stop()
    finally:
        sbx.kill()


def test_the_async_sdk_works_the_same(template, record_id):
    async def main():
        sbx = await AsyncSandbox.create(template=template, timeout=600)
        record_id(sbx.sandbox_id)
        try:
            lines = []
            result = await sbx.commands.run("echo a; sleep 0.2; echo b", on_stdout=lines.append)
            assert result.stdout == "a\nb\n"
            assert [line.strip() for line in lines] == ["a", "b"]
            await sbx.files.write("/tmp/async.txt", "from async")
            assert await sbx.files.read("/tmp/async.txt") == "from async"
            # Watching by callback (envd's WatchDir stream).
            await sbx.files.make_dir("/tmp/awatched")
            seen = []
            watcher = await sbx.files.watch_dir("/tmp/awatched", on_event=seen.append)
            await sbx.files.write("/tmp/awatched/new.txt", "x")
            for _ in range(40):
                if ("new.txt", FilesystemEventType.CREATE) in [(e.name, e.type) for e in seen]:
                    break
                await asyncio.sleep(0.1)
            assert ("new.txt", FilesystemEventType.CREATE) in [(e.name, e.type) for e in seen], seen
            await watcher.stop()
        finally:
            assert await sbx.kill() is True

    asyncio.run(main())


@sandboxer_only
def test_calls_it_does_not_serve_say_so(template, record_id):
    # Options sandboxer does not honour are refused by name, not ignored.
    with pytest.raises(SandboxException) as refused:
        Sandbox.create(template=template, allow_internet_access=False)
    assert "allow_internet_access" in str(refused.value)
    # An unknown template suggests the near name.
    with pytest.raises(SandboxException) as unknown:
        Sandbox.create(template=template + "x")
    assert template in str(unknown.value)
    sbx = Sandbox.create(template=template, timeout=600)
    record_id(sbx.sandbox_id)
    try:
        with pytest.raises(SandboxException) as unserved:
            sbx.create_snapshot()
        assert "does not serve POST" in str(unserved.value)
        assert "/snapshots" in str(unserved.value)
        # Sandboxer lengthens lifetimes and never shortens them.
        with pytest.raises(SandboxException) as shorter:
            sbx.set_timeout(5)
        assert "never shortens" in str(shorter.value)
    finally:
        sbx.kill()


@sandboxer_only
def test_keys_and_access_tokens_reach_only_their_own(template, other_key, record_id):
    with pytest.raises(AuthenticationException):
        Sandbox.create(template=template, api_key="not-a-key")
    mine = Sandbox.create(template=template, timeout=600)
    record_id(mine.sandbox_id)
    theirs = Sandbox.create(template=template, timeout=600, api_key=other_key)
    record_id(theirs.sandbox_id)
    try:
        # Another project's key finds nothing of mine.
        for call in (
            lambda: Sandbox.get_info(mine.sandbox_id, api_key=other_key),
            lambda: Sandbox.connect(mine.sandbox_id, api_key=other_key),
            lambda: Sandbox.set_timeout(mine.sandbox_id, 1200, api_key=other_key),
        ):
            with pytest.raises(SandboxNotFoundException):
                call()
        assert Sandbox.kill(mine.sandbox_id, api_key=other_key) is False
        listed = Sandbox.list(api_key=other_key).next_items()
        assert mine.sandbox_id not in [s.sandbox_id for s in listed]
        assert theirs.sandbox_id in [s.sandbox_id for s in listed]

        # envd: no token, a wrong one, or another sandbox's, is refused.
        url = os.environ["E2B_SANDBOX_URL"]
        start = b"\x00" + len(b'{"process":{"cmd":"id"}}').to_bytes(4, "big") + b'{"process":{"cmd":"id"}}'
        for token in (None, "0" * 64, theirs._envd_access_token):
            headers = {"e2b-sandbox-id": mine.sandbox_id, "content-type": "application/connect+json"}
            if token:
                headers["x-access-token"] = token
            for method, path, body in (
                ("POST", "/process.Process/Start", start),
                ("POST", "/filesystem.Filesystem/ListDir", b'{"path":"/"}'),
                ("GET", "/files?path=/etc/passwd", None),
            ):
                answer = httpx.request(method, url + path, headers=headers, content=body)
                assert answer.status_code == 401, (token, path, answer.text)
    finally:
        mine.kill()
        Sandbox.kill(theirs.sandbox_id, api_key=other_key)
