"""The official `openshell` client (0.1.5), unmodified, against the OpenShell
stand-in gateway (`tests/standins/openshell`), which a real `sandboxer serve`
backs: started by `tests/tests/e2e/openshell.rs`, which names the gateway in
OPENSHELL_ENDPOINT (loopback host:port), the token in OPENSHELL_TOKEN, another
project's token in OPENSHELL_OTHER_TOKEN and the image (a profile) in
SANDBOXER_OPENSHELL_IMAGE (TLS files, for a real gateway, in OPENSHELL_CA_PATH,
OPENSHELL_CERT_PATH, OPENSHELL_KEY_PATH). With SANDBOXER_OPENSHELL_LIVE=1
(`scripts/openshell-live.sh`) the same tests run against a real gateway, the
stand-in's own checks skipped."""

import ipaddress
import os
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from openshell import DeletionOutcome, GatewayError, SandboxClient, TlsConfig
from openshell._proto import openshell_pb2, sandbox_pb2
from openshell._proto.openshell_pb2_grpc import OpenShellStub

LIVE = os.environ.get("SANDBOXER_OPENSHELL_LIVE") == "1"
ENDPOINT = os.environ["OPENSHELL_ENDPOINT"]
if not LIVE:
    # Never a real gateway unless asked: the stand-in is on loopback.
    assert ipaddress.ip_address(ENDPOINT.rsplit(":", 1)[0]).is_loopback, ENDPOINT
IMAGE = os.environ["SANDBOXER_OPENSHELL_IMAGE"]
WORKSPACE = os.environ.get("OPENSHELL_WORKSPACE", "default")

EGRESS = {"version": 1, "network_policies": {"pypi": {
    "name": "pypi",
    "endpoints": [{"host": "pypi.org", "port": 443},
                  {"host": "*.pythonhosted.org", "port": 443},
                  {"allowed_ips": ["192.0.2.10"], "port": 5432}],
    "binaries": [{"path": "/**"}]}}}


def client(token=None):
    tls = None
    files = {k: os.environ.get(f"OPENSHELL_{k.upper()}") for k in ("ca_path", "cert_path", "key_path")}
    if any(files.values()):
        tls = TlsConfig(**{k: Path(v) if v else None for k, v in files.items()})
    return SandboxClient(ENDPOINT, tls=tls, bearer_token=token or os.environ["OPENSHELL_TOKEN"])


def spec(policy=None, env=None):
    made = openshell_pb2.SandboxSpec()
    made.template.image = IMAGE
    made.environment.update(env or {})
    if policy is not None:
        json_format.ParseDict(policy, made.policy)
    return made


@pytest.fixture
def gateway():
    with client() as c:
        yield c


def test_a_sandbox_is_created_worked_in_listed_reconfigured_and_deleted(gateway):
    assert gateway.health().status == openshell_pb2.SERVICE_STATUS_HEALTHY
    run = uuid.uuid4().hex[:10]
    name = f"e2e-{run}"
    made = gateway.create(workspace=WORKSPACE, name=name, labels={"run": run, "team": "a"},
                          spec=spec(EGRESS, {"GREETING": "hi"}))
    try:
        assert made.id and made.name == name and made.labels["run"] == run
        ready = gateway.wait_ready(name, workspace=WORKSPACE, timeout_seconds=120)
        assert ready.phase == openshell_pb2.SANDBOX_PHASE_READY
        # Commands: output, errors and exit codes; env, folder and stdin.
        ran = gateway.exec(name, ["echo", "hi"], workspace=WORKSPACE, no_login_shell=True,
                           timeout_seconds=30)
        assert (ran.exit_code, ran.stdout, ran.stderr) == (0, "hi\n", "")
        ran = gateway.exec(name, ["sh", "-c", "echo out; echo err >&2; exit 3"],
                           workspace=WORKSPACE, no_login_shell=True)
        assert (ran.exit_code, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
        ran = gateway.exec(name, ["sh", "-c", 'echo "$GREETING $EXTRA $(pwd)"'],
                           workspace=WORKSPACE, env={"EXTRA": "there"}, workdir="/tmp",
                           no_login_shell=True)
        assert ran.stdout == "hi there /tmp\n"
        ran = gateway.exec(name, ["cat"], workspace=WORKSPACE, stdin=b"fed\x00in",
                           no_login_shell=True, timeout_seconds=30)
        assert ran.stdout == "fed\x00in"
        chunks = [c for c in gateway.exec_stream(name, ["sh", "-c", "echo a; echo b >&2"],
                                                 workspace=WORKSPACE, no_login_shell=True)]
        assert {getattr(c, "stream", None) for c in chunks[:-1]} == {"stdout", "stderr"}
        assert chunks[-1].exit_code == 0
        # Listing: by label selector, page by page, across workspaces.
        other = gateway.create(workspace=WORKSPACE, name=f"{name}-2",
                               labels={"run": run, "team": "b"}, spec=spec())
        try:
            gateway.wait_ready(other.name, workspace=WORKSPACE, timeout_seconds=120)
            mine = gateway.list_all(workspace=WORKSPACE, label_selector=f"run={run}")
            assert sorted(s.name for s in mine) == [name, f"{name}-2"]
            team = gateway.list_all(workspace=WORKSPACE, label_selector=f"run={run},team=a")
            assert [s.name for s in team] == [name]
            pages = list(gateway.list(workspace=WORKSPACE, page_size=1,
                                      label_selector=f"run={run}"))
            assert [len(p.items) for p in pages] == [1, 1]
            everywhere = gateway.list_all_for_all_workspaces(label_selector=f"run={run}")
            assert len(everywhere) == 2
        finally:
            gateway.delete(other.name, workspace=WORKSPACE)
        # The policy, replaced on the running sandbox: one more domain.
        stub = OpenShellStub(gateway._channel)
        wider = sandbox_pb2.SandboxPolicy()
        json_format.ParseDict(EGRESS, wider)
        endpoint = wider.network_policies["pypi"].endpoints.add()
        endpoint.host, endpoint.port = "files.example.com", 443
        update = openshell_pb2.UpdateConfigRequest(sandbox=name, policy=wider)
        update.workspace_scope.workspace = WORKSPACE
        answer = stub.UpdateConfig(update, metadata=[
            ("authorization", f"Bearer {os.environ['OPENSHELL_TOKEN']}")])
        assert answer.version >= 2
        config = stub.GetSandboxConfig(
            sandbox_pb2.GetSandboxConfigRequest(
                name=name, workspace_scope={"workspace": WORKSPACE}),
            metadata=[("authorization", f"Bearer {os.environ['OPENSHELL_TOKEN']}")])
        hosts = [e.host for e in config.policy.network_policies["pypi"].endpoints]
        assert hosts == ["pypi.org", "*.pythonhosted.org", "", "files.example.com"]
    finally:
        deleted = gateway.delete(name, workspace=WORKSPACE)
    assert deleted.outcome in (DeletionOutcome.COMPLETED, DeletionOutcome.ACCEPTED)
    gateway.wait_deleted(name, workspace=WORKSPACE, timeout_seconds=60)
    again = gateway.delete(name, workspace=WORKSPACE, allow_missing=True)
    assert again.outcome == DeletionOutcome.ALREADY_ABSENT
    with pytest.raises(GatewayError) as missing:
        gateway.get(name, workspace=WORKSPACE)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.skipif(LIVE, reason="the stand-in's checks; a real gateway words them its own way")
def test_a_policy_without_a_port_is_refused_naming_the_field(gateway):
    bad = {"version": 1, "network_policies": {"x": {
        "endpoints": [{"host": "example.com"}], "binaries": [{"path": "/**"}]}}}
    with pytest.raises(GatewayError) as refused:
        gateway.create(workspace=WORKSPACE, name=f"bad-{uuid.uuid4().hex[:8]}", spec=spec(bad))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "endpoints[0].port" in refused.value.details()


@pytest.mark.skipif(LIVE, reason="tokens of the stand-in's daemon")
def test_a_wrong_token_or_another_projects_sees_nothing(gateway):
    run = uuid.uuid4().hex[:10]
    name = f"e2e-{run}"
    gateway.create(workspace=WORKSPACE, name=name, labels={"run": run}, spec=spec())
    try:
        with client("not-a-token") as stranger:
            with pytest.raises(GatewayError) as refused:
                stranger.list_all(workspace=WORKSPACE)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with client(os.environ["OPENSHELL_OTHER_TOKEN"]) as other:
            assert other.list_all(workspace=WORKSPACE, label_selector=f"run={run}") == []
            with pytest.raises(GatewayError) as hidden:
                other.get(name, workspace=WORKSPACE)
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(GatewayError) as hidden:
                other.exec(name, ["true"], workspace=WORKSPACE)
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
            assert other.delete(name, workspace=WORKSPACE,
                                allow_missing=True).outcome == DeletionOutcome.ALREADY_ABSENT
        assert gateway.get(name, workspace=WORKSPACE).name == name
    finally:
        gateway.delete(name, workspace=WORKSPACE, allow_missing=True)
