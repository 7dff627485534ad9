"""The SDK against a real daemon: a sandbox of each test profile created,
worked in and destroyed through the sync and the async clients; errors as the
exceptions of their codes; a member of another project refused; a tree out of
a sandbox unpacked only inside its destination."""

import asyncio
import io
import os
import tarfile
import uuid

import pytest

import sandboxer
from sandboxer import AsyncSandboxer, Exit, Output, Sandboxer
from sandboxer._calls import unpack

COUNT = "for i in 1 2 3; do echo line $i; sleep 0.3; done; echo done >&2"


def test_a_sandbox_is_worked_in_and_destroyed_on_leaving(profile, kind, tmp_path):
    label = {"sdk-test": uuid.uuid4().hex[:12]}
    with Sandboxer() as client:
        with client.create(profile, ttl="30m", labels=label) as box:
            assert box.record.state == "ready"
            assert box.record.labels["sdk-test"] == label["sdk-test"]
            assert [r.id for r in client.list(labels=label)] == [box.id]

            ran = box.exec("echo hi; echo err >&2; exit 4")
            assert (ran.exit_code, ran.stdout, ran.stderr) == (4, "hi\n", "err\n")

            events = list(box.stream(["sh", "-c", COUNT]))
            outputs = [e for e in events if isinstance(e, Output)]
            assert isinstance(events[-1], Exit) and events[-1].exit_code == 0
            # Written over a second, read as it came: more than one chunk.
            assert len([o for o in outputs if o.stream == "stdout"]) >= 2, events
            assert "".join(o.text for o in outputs if o.stream == "stdout") == \
                "line 1\nline 2\nline 3\n"
            assert "".join(o.text for o in outputs if o.stream == "stderr") == "done\n"

            if kind == "files":
                files_round_trip(box, tmp_path)
            else:
                with pytest.raises(sandboxer.Unsupported) as refused:
                    box.read_file("/etc/hostname")
                assert refused.value.code == "unsupported"
        assert client.get(box.id).record.state == "destroyed"


def files_round_trip(box, tmp_path):
    binary = bytes(range(256)) * 10
    assert box.write_file("/tmp/sdk/bin.dat", binary, mode=0o600) == len(binary)
    assert box.read_file("/tmp/sdk/bin.dat") == binary
    listed = {f.name: f for f in box.list_files("/tmp/sdk")}
    assert listed["bin.dat"].size == len(binary)
    assert listed["bin.dat"].mode & 0o777 == 0o600

    tree = tmp_path / "proj"
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "main.py").write_text("print('hi')\n")
    (tree / "README").write_text("readme\n")
    assert box.upload(tree, "/tmp/work") > 0
    assert box.exec("cat /tmp/work/proj/src/main.py").stdout == "print('hi')\n"
    box.exec("echo made > /tmp/work/proj/out.txt")

    back = tmp_path / "back"
    box.download("/tmp/work/proj", back)
    assert (back / "proj" / "src" / "main.py").read_text() == "print('hi')\n"
    assert (back / "proj" / "out.txt").read_text() == "made\n"
    box.remove("/tmp/work", recursive=True)
    with pytest.raises(sandboxer.NotFound):
        box.read_file("/tmp/work/proj/README")


def test_the_async_client_does_the_same(profile, kind):
    async def scenario():
        async with AsyncSandboxer() as client:
            async with await client.create(profile, ttl="30m") as box:
                ran = await box.exec(["sh", "-c", "echo async"])
                assert ran.stdout == "async\n"
                events = [e async for e in box.stream(COUNT)]
                assert isinstance(events[-1], Exit)
                stdout = [e for e in events if isinstance(e, Output) and e.stream == "stdout"]
                assert len(stdout) >= 2, events
                if kind == "files":
                    await box.write_file("/tmp/a.txt", "async file\n")
                    assert await box.read_file("/tmp/a.txt") == b"async file\n"
                extended = await box.extend_ttl("10m")
                assert extended.expires_at > box.record.created_at
            return (await client.get(box.id)).record.state

    assert asyncio.run(scenario()) == "destroyed"


def test_errors_are_exceptions_of_their_codes(member_token):
    with Sandboxer() as client:
        with pytest.raises(sandboxer.NotFound) as unknown:
            client.create("no-such-profile")
        assert unknown.value.status == 404 and unknown.value.code == "not_found"
        with pytest.raises(sandboxer.InvalidRequest):
            client.create("fix", ttl="forever")
        with Sandboxer(token="not-a-token") as stranger:
            with pytest.raises(sandboxer.Unauthorized):
                stranger.profiles()
        # A member of another project cannot see or touch the sandbox.
        with client.create("fix") as box, Sandboxer(token=member_token) as member:
            assert box.id not in [r.id for r in member.list(all=True)]
            with pytest.raises(sandboxer.NotFound):
                member.get(box.id)
            stolen = sandboxer.Sandbox(member, box.record)
            with pytest.raises(sandboxer.NotFound):
                stolen.exec("true")
            with pytest.raises(sandboxer.NotFound):
                stolen.destroy()
            assert client.get(box.id).record.state in ("ready", "active")


def test_a_tree_out_is_refused_whole_when_an_entry_leaves_its_destination(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("fine.txt", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x\n"))
    into = tmp_path / "into"
    with pytest.raises(Exception):
        unpack(buffer.getvalue(), into)
    assert not (tmp_path / "escaped.txt").exists()
    assert os.listdir(into) == []
