"""The official `daytona` client, unmodified, against the Daytona stand-in
(`tests/standins/daytona`), which a real `sandboxer serve` backs: started by
`tests/tests/e2e/daytona.rs`, which names it in DAYTONA_API_URL (loopback),
the key in DAYTONA_API_KEY and the snapshot (a profile) in
SANDBOXER_DAYTONA_SNAPSHOT. With SANDBOXER_DAYTONA_LIVE=1
(`scripts/daytona-live.sh`) the same tests run against Daytona itself."""

import ipaddress
import os
import urllib.parse
import uuid

if os.environ.get("SANDBOXER_DAYTONA_LIVE") != "1":
    # Never a real Daytona unless asked: the stand-in is on loopback.
    host = urllib.parse.urlsplit(os.environ["DAYTONA_API_URL"]).hostname
    assert ipaddress.ip_address(host).is_loopback, host

from daytona import CreateSandboxFromSnapshotParams, Daytona, ListSandboxesQuery  # noqa: E402
from daytona_api_client import HealthApi  # noqa: E402


def test_a_sandbox_is_created_worked_in_listed_and_deleted():
    daytona = Daytona()
    run = uuid.uuid4().hex[:10]
    name = f"e2e-{run}"
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(
        snapshot=os.environ["SANDBOXER_DAYTONA_SNAPSHOT"], name=name, labels={"run": run},
        env_vars={"GREETING": "hi"}, auto_stop_interval=0, ttl_minutes=60,
        network_allow_list="192.0.2.0/24", domain_allow_list="pypi.org"))
    try:
        assert (sandbox.network_allow_list, sandbox.domain_allow_list) == (
            "192.0.2.0/24", "pypi.org")
        ran = sandbox.process.exec("echo $GREETING; echo there >&2; exit 3", cwd="/tmp", timeout=30)
        assert ran.exit_code == 3
        assert ran.result == "hi\nthere\n" or set(ran.result.split()) == {"hi", "there"}
        sandbox.fs.upload_file(b"from daytona\n", "/tmp/d/a.txt")
        assert sandbox.fs.download_file("/tmp/d/a.txt") == b"from daytona\n"
        assert [f.name for f in sandbox.fs.list_files("/tmp/d")] == ["a.txt"]
        listed = daytona.list(ListSandboxesQuery(labels={"run": run}))
        assert [s.id for s in listed] == [sandbox.id]
        # By id and by name.
        assert daytona.get(sandbox.id).id == sandbox.id
        assert daytona.get(name).id == sandbox.id
        # Folders, facts, moves, removal.
        sandbox.fs.create_folder("/tmp/d/sub", "755")
        assert sandbox.fs.get_file_info("/tmp/d/sub").is_dir
        sandbox.fs.move_files("/tmp/d/a.txt", "/tmp/d/sub/b.txt")
        assert sandbox.fs.get_file_info("/tmp/d/sub/b.txt").size == len(b"from daytona\n")
        sandbox.fs.delete_file("/tmp/d/sub", recursive=True)
        assert [f.name for f in sandbox.fs.list_files("/tmp/d")] == []
        # Its lifetime, from now (the stand-in only moves it later).
        sandbox.set_ttl(180)
        # The API's own health, through the client's generated API.
        HealthApi(daytona._api_client).health_controller_live()
    finally:
        daytona.delete(sandbox)


def test_a_sandbox_without_a_network_says_so():
    daytona = Daytona()
    sandbox = daytona.create(CreateSandboxFromSnapshotParams(
        snapshot=os.environ["SANDBOXER_DAYTONA_SNAPSHOT"], name=f"e2e-{uuid.uuid4().hex[:10]}",
        network_block_all=True, auto_stop_interval=0, ttl_minutes=60))
    try:
        assert sandbox.network_block_all is True
    finally:
        daytona.delete(sandbox)
