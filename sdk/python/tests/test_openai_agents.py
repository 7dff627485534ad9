"""The OpenAI Agents SDK driven through its own interface on real sandboxes:
a session's exec, read, write, workspace persisted and the sandbox resumed
from it after deletion; and `Runner.run` of a `SandboxAgent` with the SDK's
scripted model (no model is called). Tracing is off and any connection but to
loopback (the daemon) fails the test: nothing may reach OpenAI."""

import asyncio
import io
import ipaddress
import os
import socket
import tarfile
import uuid
from pathlib import Path

import pytest

os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.pop("OPENAI_API_KEY", None)

from agents import RunConfig, Runner, set_tracing_disabled  # noqa: E402
from agents.sandbox import LocalSnapshotSpec, Manifest, SandboxAgent, SandboxRunConfig  # noqa: E402
from agents.sandbox.entries import File  # noqa: E402
from agents.sandbox.errors import WorkspaceReadNotFoundError  # noqa: E402
from agents.testing import ScriptedModel, assistant_message, function_call  # noqa: E402

from sandboxer import AsyncSandboxer  # noqa: E402
from sandboxer.integrations.openai_agents import (  # noqa: E402
    SandboxerClient,
    SandboxerClientOptions,
)

set_tracing_disabled(True)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            if not ipaddress.ip_address(address[0]).is_loopback:
                raise AssertionError(f"a connection to {address!r} was attempted")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def members(raw: bytes):
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return tar.getnames()


def test_a_session_works_persists_and_resumes_into_a_new_sandbox(files_profile, tmp_path):
    async def scenario():
        async with AsyncSandboxer() as sandboxer:
            client = SandboxerClient(sandboxer)
            manifest = Manifest(entries={"hello.txt": File(content=b"hello from manifest\n")},
                                environment={"value": {"GREETING": "hi"}})
            session = await client.create(
                manifest=manifest, snapshot=LocalSnapshotSpec(base_path=tmp_path),
                options=SandboxerClientOptions(profile=files_profile, ttl="30m"))
            first = session.state.sandbox_id
            await session.start()
            ran = await session.exec("echo $GREETING; cat hello.txt; pwd")
            assert ran.exit_code == 0, ran.stderr
            assert ran.stdout == b"hi\nhello from manifest\n/workspace\n"
            assert (await session.exec("echo oops >&2; exit 3")).exit_code == 3
            await session.write(Path("notes/n.txt"), io.BytesIO(b"note\n"))
            assert (await session.read(Path("notes/n.txt"))).read() == b"note\n"
            with pytest.raises(WorkspaceReadNotFoundError):
                await session.read(Path("missing.txt"))
            persisted = (await session.persist_workspace()).read()
            assert {"./hello.txt", "./notes/n.txt"} <= set(members(persisted))

            payload = client.serialize_session_state(session.state)
            await session.aclose()          # persists the workspace to the snapshot
            await client.delete(session)
            assert (await sandboxer.get(first)).record.state == "destroyed"

            resumed = await client.resume(client.deserialize_session_state(payload))
            async with resumed:
                assert resumed.state.sandbox_id != first
                assert (await resumed.read(Path("notes/n.txt"))).read() == b"note\n"
                assert (await resumed.exec("cat hello.txt")).stdout == b"hello from manifest\n"
            await client.delete(resumed)
            assert (await sandboxer.get(resumed.state.sandbox_id)).record.state == "destroyed"

    asyncio.run(scenario())


def test_runner_runs_a_sandbox_agent_in_a_sandboxer_sandbox(files_profile, tmp_path):
    label = {"oai-test": uuid.uuid4().hex[:12]}

    async def scenario():
        async with AsyncSandboxer() as sandboxer:
            model = ScriptedModel([
                [function_call("exec_command",
                               {"cmd": "cat hello.txt && echo from-model > out.txt && cat out.txt"},
                               call_id="c1")],
                [assistant_message("done")],
            ])
            agent = SandboxAgent(
                name="sbx", instructions="test", model=model,
                default_manifest=Manifest(entries={"hello.txt": File(content=b"hello from manifest\n")}))
            result = await Runner.run(agent, "go", run_config=RunConfig(
                sandbox=SandboxRunConfig(
                    client=SandboxerClient(sandboxer),
                    options=SandboxerClientOptions(profile=files_profile, ttl="30m", labels=label),
                    snapshot=LocalSnapshotSpec(base_path=tmp_path)),
                tracing_disabled=True))
            outputs = [str(item.output) for item in result.new_items
                       if item.type == "tool_call_output_item"]
            made = await sandboxer.list(labels=label, all=True)
            return result.final_output, outputs, made

    final, outputs, made = asyncio.run(scenario())
    assert final == "done"
    assert any("hello from manifest" in o and "from-model" in o for o in outputs), outputs
    # The Runner made one sandbox for the run and deleted it at its end.
    assert [m.state for m in made] == ["destroyed"]
