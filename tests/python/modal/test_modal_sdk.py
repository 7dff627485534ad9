"""The official `modal` client (1.6.4), unmodified, against the Modal stand-in
(`tests/standins/modal`), which a real `sandboxer serve` backs: started by
`tests/tests/e2e/modal.rs`, which names it in MODAL_SERVER_URL (loopback), the
token pair in MODAL_TOKEN_ID/MODAL_TOKEN_SECRET, another project's secret in
MODAL_OTHER_TOKEN_SECRET and the image (a profile) in SANDBOXER_MODAL_IMAGE.
With SANDBOXER_MODAL_LIVE=1 (`scripts/modal-live.sh`) the same tests run
against Modal itself, the stand-in's own checks skipped."""

import ipaddress
import os
import urllib.parse
import uuid

import pytest

LIVE = os.environ.get("SANDBOXER_MODAL_LIVE") == "1"
if not LIVE:
    # Never Modal itself unless asked: the stand-in is on loopback, and the
    # client reads no configuration file.
    host = urllib.parse.urlsplit(os.environ["MODAL_SERVER_URL"]).hostname
    assert ipaddress.ip_address(host).is_loopback, host
    assert os.environ.get("MODAL_CONFIG_PATH"), "MODAL_CONFIG_PATH keeps ~/.modal.toml out"

import modal  # noqa: E402
from modal.exception import AuthError, NotFoundError, SandboxFilesystemNotFoundError  # noqa: E402

IMAGE = os.environ["SANDBOXER_MODAL_IMAGE"]
APP = "sandboxer-e2e"


def test_the_api_answers_hello():
    modal.Client.from_credentials(os.environ["MODAL_TOKEN_ID"],
                                  os.environ["MODAL_TOKEN_SECRET"]).hello()


@pytest.fixture
def app():
    return modal.App.lookup(APP, create_if_missing=True)


def test_a_sandbox_is_created_worked_in_snapshotted_listed_and_terminated(app):
    run = uuid.uuid4().hex[:10]
    sb = modal.Sandbox.create(
        app=app, image=modal.Image.from_registry(IMAGE), timeout=600, idle_timeout=300,
        secrets=[modal.Secret.from_dict({"GREETING": "hi"})], tags={"run": run},
        outbound_cidr_allowlist=["192.0.2.0/24"], cpu=0.5, memory=512)
    restored = None
    try:
        assert sb.object_id.startswith("sb-")
        # Commands: output, errors, exit codes; secrets, env and folder; stdin.
        p = sb.exec("sh", "-c", "echo $GREETING; echo err >&2; exit 3")
        assert (p.stdout.read(), p.stderr.read(), p.wait()) == ("hi\n", "err\n", 3)
        p = sb.exec("sh", "-c", 'echo "$X $(pwd)"', env={"X": "there"}, workdir="/tmp")
        assert (p.stdout.read(), p.wait()) == ("there /tmp\n", 0)
        p = sb.exec("cat")
        p.stdin.write(b"fed in")
        p.stdin.write_eof()
        p.stdin.drain()
        assert (p.stdout.read(), p.wait()) == ("fed in", 0)
        # A command past its timeout: the client gives -1.
        assert sb.exec("sleep", "30", timeout=2).wait() == -1
        # Files through the client's filesystem helper.
        sb.filesystem.write_text("hello\n", "/tmp/m/a.txt")
        assert sb.filesystem.read_text("/tmp/m/a.txt") == "hello\n"
        assert [f.name for f in sb.filesystem.list_files("/tmp/m")] == ["a.txt"]
        info = sb.filesystem.stat("/tmp/m/a.txt")
        assert info.is_file() and info.size == 6
        sb.filesystem.make_directory("/tmp/m/sub")
        assert sb.filesystem.stat("/tmp/m/sub").is_dir()
        sb.filesystem.remove("/tmp/m/sub", recursive=True)
        with pytest.raises(SandboxFilesystemNotFoundError):
            sb.filesystem.read_text("/tmp/m/nothing")
        # Tags, replaced and read, and finding it by them.
        assert sb.get_tags() == {"run": run}
        sb.set_tags({"run": run, "kind": "first"})
        assert sb.get_tags() == {"run": run, "kind": "first"}
        found = list(modal.Sandbox.list(app_id=app.app_id, tags={"run": run}))
        assert [s.object_id for s in found] == [sb.object_id]
        again = modal.Sandbox.from_id(sb.object_id)
        assert again.poll() is None
        # A handle found by id runs commands too (it asks for its task and router).
        p = again.exec("echo", "again")
        assert (p.stdout.read(), p.wait()) == ("again\n", 0)
        # A filesystem snapshot, and a sandbox made from it.
        image = sb.snapshot_filesystem()
        restored = modal.Sandbox.create(app=app, image=modal.Image.from_id(image.object_id),
                                        timeout=600, tags={"run": run})
        p = restored.exec("cat", "/tmp/m/a.txt")
        assert (p.stdout.read(), p.wait()) == ("hello\n", 0)
        assert len(list(modal.Sandbox.list(app_id=app.app_id, tags={"run": run}))) == 2
    finally:
        if restored is not None:
            restored.terminate()
        sb.terminate()
    sb.wait(raise_on_termination=False)
    assert sb.poll() == 137
    assert list(modal.Sandbox.list(app_id=app.app_id, tags={"run": run})) == []


@pytest.mark.skipif(LIVE, reason="tokens of the stand-in's daemon")
def test_a_wrong_token_is_refused_and_another_projects_sees_nothing(app):
    run = uuid.uuid4().hex[:10]
    sb = modal.Sandbox.create(app=app, image=modal.Image.from_registry(IMAGE), timeout=600,
                              tags={"run": run}, block_network=True)
    try:
        stranger = modal.Client.from_credentials("ak-stranger", "not-a-token")
        with pytest.raises(AuthError):
            modal.Sandbox.from_id(sb.object_id, client=stranger)
        other = modal.Client.from_credentials("ak-other", os.environ["MODAL_OTHER_TOKEN_SECRET"])
        with pytest.raises(NotFoundError):
            modal.Sandbox.from_id(sb.object_id, client=other)
        theirs = modal.App.lookup(APP, create_if_missing=True, client=other)
        assert list(modal.Sandbox.list(app_id=theirs.app_id, tags={"run": run},
                                       client=other)) == []
        again = modal.Sandbox.from_id(sb.object_id)
        assert again.poll() is None
        # A handle found by id runs commands too (it asks for its task and router).
        p = again.exec("echo", "again")
        assert (p.stdout.read(), p.wait()) == ("again\n", 0)
    finally:
        sb.terminate()
