"""The OpenAI Agents SDK's sandboxes on sandboxer: a sandbox client (create,
delete, resume) and session (exec, read, write, the workspace persisted and
hydrated as tar) over a sandboxer daemon, so `SandboxAgent`s run in
self-hosted sandboxes of any sandboxer profile and backend.

    from agents import Runner, RunConfig
    from agents.sandbox import SandboxAgent, SandboxRunConfig
    from sandboxer import AsyncSandboxer
    from sandboxer.integrations.openai_agents import SandboxerClient, SandboxerClientOptions

    async with AsyncSandboxer() as sandboxer:
        config = RunConfig(sandbox=SandboxRunConfig(
            client=SandboxerClient(sandboxer),
            options=SandboxerClientOptions(profile="python", ttl="1h")))
        await Runner.run(agent, "…", run_config=config)

Commands run as the SDK gives them (`sh -lc …` for shell lines) in the
workspace root with the manifest's environment, through sandboxer's command
sessions; files go through its file API; the workspace travels as tar through
its tree API. A terminal (`write_stdin`) and exposed ports are not offered yet.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Literal

from agents.sandbox import Manifest
from agents.sandbox.errors import (
    ExecTimeoutError,
    ExecTransportError,
    WorkspaceArchiveReadError,
    WorkspaceArchiveWriteError,
    WorkspaceReadNotFoundError,
    WorkspaceWriteTypeError,
)
from agents.sandbox.session import (
    BaseSandboxClient,
    BaseSandboxClientOptions,
    BaseSandboxSession,
    Instrumentation,
    SandboxSession,
    SandboxSessionState,
)
from agents.sandbox.snapshot import resolve_snapshot
from agents.sandbox.types import ExecResult, User
from agents.sandbox.util.tar_utils import should_skip_tar_member

from ..aio import AsyncSandbox, AsyncSandboxer
from ..errors import NotFound, SandboxerError
from ..models import Exit, Output


class SandboxerClientOptions(BaseSandboxClientOptions):
    """Which sandbox a session gets: a profile, its lifetime, its labels."""

    type: Literal["sandboxer"] = "sandboxer"
    profile: str
    ttl: str | None = None
    labels: dict[str, str] = {}


class SandboxerSessionState(SandboxSessionState):
    """What a session needs to be resumed: the sandbox and how to replace it.
    No token: the client brings its own."""

    type: Literal["sandboxer"] = "sandboxer"
    sandbox_id: str
    profile: str
    ttl: str | None = None


class SandboxerSession(BaseSandboxSession):
    """One sandboxer sandbox as an Agents SDK sandbox session."""

    state: SandboxerSessionState

    def __init__(self, *, state: SandboxerSessionState, sandboxer: AsyncSandboxer,
                 sandbox: AsyncSandbox | None = None):
        self.state = state
        self._sandboxer = sandboxer
        self._sandbox = sandbox

    async def _box(self) -> AsyncSandbox:
        if self._sandbox is None or self._sandbox.id != self.state.sandbox_id:
            self._sandbox = await self._sandboxer.get(self.state.sandbox_id)
        return self._sandbox

    async def running(self) -> bool:
        try:
            box = await self._sandboxer.get(self.state.sandbox_id)
        except NotFound:
            return False
        return box.record.state in ("ready", "active")

    async def _exec_internal(self, *command: str | Path,
                             timeout: float | None = None) -> ExecResult:
        argv = [str(part) for part in command]
        cwd = self.state.manifest.root if self.state.workspace_root_ready else None
        env = await self.state.manifest.environment.resolve()
        out, err = bytearray(), bytearray()
        try:
            box = await self._box()
            async for event in box.stream(argv, cwd=cwd, env=env or None,
                                          timeout_s=_whole_seconds(timeout)):
                if isinstance(event, Output):
                    (err if event.stream == "stderr" else out).extend(event.data)
                elif isinstance(event, Exit):
                    if event.timed_out:
                        raise ExecTimeoutError(command=command, timeout_s=timeout, cause=None)
                    return ExecResult(stdout=bytes(out), stderr=bytes(err),
                                      exit_code=event.exit_code)
        except SandboxerError as e:
            raise ExecTransportError(command=command, cause=e) from e
        raise ExecTransportError(command=command, context={"reason": "no exit status"})

    async def read(self, path: Path, *, user: str | User | None = None) -> io.IOBase:
        if user is not None:
            await self._check_read_with_exec(path, user=user)
        target = self.normalize_path(path)
        try:
            return io.BytesIO(await (await self._box()).read_file(str(target)))
        except NotFound as e:
            raise WorkspaceReadNotFoundError(path=Path(path), cause=e) from e
        except SandboxerError as e:
            raise WorkspaceArchiveReadError(path=Path(path), cause=e) from e

    async def write(self, path: Path, data: io.IOBase, *,
                    user: str | User | None = None) -> None:
        if user is not None:
            await self._check_write_with_exec(path, user=user)
        payload = data.read()
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if not isinstance(payload, (bytes, bytearray)):
            raise WorkspaceWriteTypeError(path=Path(path), actual_type=type(payload).__name__)
        target = self.normalize_path(path, for_write=True)
        try:
            await (await self._box()).write_file(str(target), bytes(payload))
        except SandboxerError as e:
            raise WorkspaceArchiveWriteError(path=Path(target), cause=e) from e

    async def persist_workspace(self) -> io.IOBase:
        """The workspace root as a tar stream of paths relative to it (`./…`),
        without what the manifest marks ephemeral."""
        root = self.state.manifest.root
        try:
            whole = await (await self._box()).tar(root)
        except SandboxerError as e:
            raise WorkspaceArchiveReadError(path=Path(root), cause=e) from e
        return io.BytesIO(_relative_to_root(whole, self._persist_workspace_skip_relpaths()))

    async def hydrate_workspace(self, data: io.IOBase) -> None:
        """Unpacks a persisted workspace into the root (sandboxer keeps every
        entry inside it)."""
        root = self.state.manifest.root
        try:
            await (await self._box()).put_tar(root, data.read())
        except SandboxerError as e:
            raise WorkspaceArchiveWriteError(path=Path(root), cause=e) from e


class SandboxerClient(BaseSandboxClient[SandboxerClientOptions]):
    """Sessions on sandboxes of a sandboxer daemon, as `sandboxer`'s caller."""

    backend_id = "sandboxer"
    supports_default_options = False

    def __init__(self, sandboxer: AsyncSandboxer, *,
                 instrumentation: Instrumentation | None = None, dependencies=None):
        self._sandboxer = sandboxer
        self._instrumentation = instrumentation or Instrumentation()
        self._dependencies = dependencies

    async def create(self, *, snapshot=None, manifest: Manifest | None = None,
                     options: SandboxerClientOptions) -> SandboxSession:
        manifest = manifest or Manifest()
        self._validate_manifest_for_create(manifest)
        box = await self._sandboxer.create(options.profile, ttl=options.ttl,
                                           labels=options.labels or None)
        session_id = uuid.uuid4()
        state = SandboxerSessionState(
            session_id=session_id, manifest=manifest,
            snapshot=resolve_snapshot(snapshot, str(session_id)),
            sandbox_id=box.id, profile=options.profile, ttl=options.ttl)
        return self._wrap_session(
            SandboxerSession(state=state, sandboxer=self._sandboxer, sandbox=box),
            instrumentation=self._instrumentation)

    async def delete(self, session: SandboxSession) -> SandboxSession:
        try:
            await (await self._sandboxer.get(session._inner.state.sandbox_id)).destroy()
        except NotFound:
            pass
        return session

    async def resume(self, state: SandboxerSessionState) -> SandboxSession:
        """Reattaches to the sandbox while it runs; otherwise a new one of the
        same profile, which `start()` hydrates from the snapshot."""
        state.assert_path_grants_rebound()
        inner = SandboxerSession(state=state, sandboxer=self._sandboxer)
        alive = await inner.running()
        if not alive:
            box = await self._sandboxer.create(state.profile, ttl=state.ttl)
            state.sandbox_id = box.id
            state.workspace_root_ready = False
        inner._set_start_state_preserved(alive, system=alive)
        return self._wrap_session(inner, instrumentation=self._instrumentation)

    def deserialize_session_state(self, payload: dict[str, object]) -> SandboxSessionState:
        return self._deserialize_session_state_payload(payload, SandboxerSessionState)


def _whole_seconds(timeout: float | None) -> int | None:
    if timeout is None:
        return None
    return max(1, int(-(-timeout // 1)))


def _relative_to_root(tar_bytes: bytes, skip: set | frozenset) -> bytes:
    """sandboxer's tar of a folder holds it under its own name (`workspace/…`);
    the SDK's workspace archives hold paths relative to the root (`./…`)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r") as source, \
            tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            _, _, rest = member.name.partition("/")
            name = f"./{rest}" if rest else "."
            if rest and should_skip_tar_member(name, skip_rel_paths=skip, root_name=None):
                continue
            member.name = name
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out.getvalue()
