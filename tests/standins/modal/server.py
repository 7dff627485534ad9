"""A local stand-in for Modal's API, for tests only: never a Modal.

It serves, on one plaintext HTTP/2 port on loopback, the two gRPC services the
official `modal` client (1.6.4; see `workplans/19-modal-facts.md`) calls for
sandboxes — the control plane (`modal.client.ModalClient`) and the task
command router (`modal.task_command_router.TaskCommandRouter`) — from the
service definitions shipped in the client (`modal_proto`), backed by a real
`sandboxer serve`:

- an image is a sandboxer profile: `Image.from_registry("NAME")` (a lone
  `FROM NAME`) or `Image.from_name("NAME")`; other builds are refused;
- a sandbox is a sandboxer sandbox of that profile (`sb-` + its id), its tags
  and app labels (`modal.tag.K`, `modal.app`), its `timeout` its TTL; a
  repeated create with one `x-idempotency-key` is the same sandbox;
- an exec is a command of the daemon; the filesystem helper the client execs
  (`/__modal/.bin/modal-sandbox-fs-tools`) is answered from the daemon's file
  calls;
- a filesystem snapshot is a daemon snapshot, its image (`im-snap-…`)
  restores it.

The token secret is the daemon token (the token id is only required). Network
settings, the idle timeout and secrets are kept and applied (secrets as the
commands' environment) or answered, not enforced: the daemon's profile decides
the sandbox's network. With `--record FILE`, every request's shape (its RPC
and the fields it sets) is appended to FILE.

    python server.py --port P --sandboxer http://127.0.0.1:D [--record FILE]

Prints `listening on 127.0.0.1:P` when ready.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "sdk/python/src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from google.protobuf import empty_pb2  # noqa: E402
from grpclib.const import Status  # noqa: E402
from grpclib.exceptions import GRPCError  # noqa: E402
from grpclib.server import Server  # noqa: E402
from modal_proto import api_grpc, api_pb2  # noqa: E402
from modal_proto import task_command_router_grpc as router_grpc  # noqa: E402
from modal_proto import task_command_router_pb2 as router_pb2  # noqa: E402
from sandboxer import Sandboxer  # noqa: E402
from sandboxer._calls import EventReader  # noqa: E402
from sandboxer.errors import SandboxerError  # noqa: E402
from sandboxer.models import Exit, Output  # noqa: E402
from shapes import record_shape  # noqa: E402

FS_TOOLS = "/__modal/.bin/modal-sandbox-fs-tools"
APP = "modal.app"
TAG = "modal.tag."
GONE = ("destroyed", "destroying", "failed", "expired")
BUILDER = "2025.06"
R = api_pb2.GenericResult


def jwt(claims):
    """An unsigned JWT: what the client reads (`exp`), never checks."""
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none'})}.{part(claims)}.x"


class Exec:
    """One command's output as the router serves it: bytes per stream, an
    exit, and stdin taken in order."""

    def __init__(self):
        self.out = {0: bytearray(), 1: bytearray()}
        self.code = None
        self.signal = None
        self.stdin = bytearray()
        self.closed = False
        # Past its timeout: its output ends, and no exit is ever answered (the
        # client's own deadline gives -1, as Modal's does).
        self.timed_out = False
        self.write = None  # how stdin reaches the command, once it started
        self.lock = threading.Lock()

    def finish(self, code=None, signal=None):
        with self.lock:
            self.code, self.signal = code, signal

    @property
    def done(self):
        return self.code is not None or self.signal is not None


class Memory:
    """What the stand-in keeps that sandboxer does not (memory only)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.apps = {}
        self.images = {}
        self.by_key = {}
        self.sandboxes = {}
        self.execs = {}
        self.routers = {}


MEMORY = Memory()


def token_of(stream):
    meta = stream.metadata
    if not meta.get("x-modal-token-id") or not meta.get("x-modal-token-secret"):
        raise GRPCError(Status.UNAUTHENTICATED, "Token missing")
    return meta["x-modal-token-secret"]


def router_token(stream):
    header = stream.metadata.get("authorization", "")
    with MEMORY.lock:
        token = MEMORY.routers.get(header.removeprefix("Bearer "))
    if token is None:
        raise GRPCError(Status.UNAUTHENTICATED, "unknown router token")
    return token


def daemon_id(sandbox_id):
    if not sandbox_id.startswith("sb-"):
        raise GRPCError(Status.NOT_FOUND, f"no sandbox {sandbox_id}")
    return sandbox_id[3:]


def task_of(sandbox_id):
    return f"ta-{daemon_id(sandbox_id)}V"


def sandbox_of_task(task_id):
    if not (task_id.startswith("ta-") and task_id.endswith("V")):
        raise GRPCError(Status.NOT_FOUND, f"no task {task_id}")
    return "sb-" + task_id[3:-1]


async def daemon(work):
    """A daemon call off the event loop, its refusals as gRPC statuses."""
    try:
        return await asyncio.to_thread(work)
    except SandboxerError as e:
        status = getattr(e, "status", 500) or 500
        code = {400: Status.INVALID_ARGUMENT, 401: Status.UNAUTHENTICATED,
                403: Status.PERMISSION_DENIED, 404: Status.NOT_FOUND,
                409: Status.FAILED_PRECONDITION,
                429: Status.RESOURCE_EXHAUSTED}.get(status, Status.INTERNAL)
        raise GRPCError(code, str(e)) from None


def result_of(state):
    """A finished sandbox's result, or None while it lives."""
    if state not in GONE:
        return None
    status = {"expired": R.GENERIC_STATUS_TIMEOUT, "failed": R.GENERIC_STATUS_FAILURE}.get(
        state, R.GENERIC_STATUS_TERMINATED)
    return R(status=status, exitcode=137 if status == R.GENERIC_STATUS_TERMINATED else 0)


def unimplemented(base):
    """`base` with every abstract RPC answering UNIMPLEMENTED, naming it."""
    def stub(name):
        async def refuse(self, stream):
            raise GRPCError(Status.UNIMPLEMENTED, f"the stand-in does not serve {name}")
        return refuse
    return type(f"Unimplemented{base.__name__}", (base,),
                {name: stub(name) for name in base.__abstractmethods__})


class Control(unimplemented(api_grpc.ModalClientBase)):
    def __init__(self, url, public):
        self.url, self.public = url, public

    def client(self, stream):
        return Sandboxer(self.url, token_of(stream))

    async def ClientHello(self, stream):
        await stream.recv_message()
        token_of(stream)
        await stream.send_message(api_pb2.ClientHelloResponse())

    async def AuthTokenGet(self, stream):
        await stream.recv_message()
        token_of(stream)
        await stream.send_message(api_pb2.AuthTokenGetResponse(
            token=jwt({"exp": int(time.time()) + 3600})))

    async def EnvironmentGetOrCreate(self, stream):
        await stream.recv_message()
        token_of(stream)
        answer = api_pb2.EnvironmentGetOrCreateResponse(environment_id="en-standin")
        answer.metadata.name = "main"
        answer.metadata.settings.image_builder_version = BUILDER
        await stream.send_message(answer)

    async def AppGetOrCreate(self, stream):
        request = await stream.recv_message()
        token_of(stream)
        app_id = "ap-" + hashlib.sha256(request.app_name.encode()).hexdigest()[:22]
        with MEMORY.lock:
            known = request.app_name in MEMORY.apps
            if not known and request.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                raise GRPCError(Status.NOT_FOUND, f"app {request.app_name} not found")
            MEMORY.apps[request.app_name] = app_id
        answer = api_pb2.AppGetOrCreateResponse(app_id=app_id)
        answer.handle_metadata.app_id = app_id
        await stream.send_message(answer)

    def image(self, kind, name):
        image_id = "im-" + hashlib.sha256(f"{kind}:{name}".encode()).hexdigest()[:22]
        with MEMORY.lock:
            MEMORY.images[image_id] = (kind, name)
        return image_id

    async def ImageGetOrCreate(self, stream):
        request = await stream.recv_message()
        token_of(stream)
        commands = list(request.image.dockerfile_commands)
        if len(commands) != 1 or not commands[0].startswith("FROM "):
            raise GRPCError(Status.INVALID_ARGUMENT,
                            "the stand-in builds no images: Image.from_registry(PROFILE) only")
        profile = commands[0][len("FROM "):].strip()
        answer = api_pb2.ImageGetOrCreateResponse(image_id=self.image("profile", profile))
        answer.result.status = R.GENERIC_STATUS_SUCCESS
        answer.metadata.image_builder_version = BUILDER
        await stream.send_message(answer)

    async def ImageGetByTag(self, stream):
        request = await stream.recv_message()
        client = self.client(stream)
        name = request.tag.removesuffix(":latest")
        profiles = await daemon(client.profiles)
        if not any(p.get("id") in (name, f"profile.{name}") for p in profiles):
            raise GRPCError(Status.NOT_FOUND, f"no image {request.tag}")
        await stream.send_message(api_pb2.ImageGetByTagResponse(
            image_id=self.image("profile", name)))

    async def ImageFromId(self, stream):
        request = await stream.recv_message()
        token_of(stream)
        with MEMORY.lock:
            known = request.image_id in MEMORY.images
        if not known:
            raise GRPCError(Status.NOT_FOUND, f"no image {request.image_id}")
        await stream.send_message(api_pb2.ImageFromIdResponse(image_id=request.image_id))

    async def SandboxCreateV2(self, stream):
        request = await stream.recv_message()
        token = token_of(stream)
        client = Sandboxer(self.url, token)
        key = stream.metadata.get("x-idempotency-key")
        definition = request.definition
        if definition.network_access.network_access_type == api_pb2.NetworkAccess.BLOCKED and (
                definition.network_access.allowed_cidrs or definition.network_access.allowed_domains):
            raise GRPCError(Status.INVALID_ARGUMENT, "a blocked network has no allow-list")
        with MEMORY.lock:
            image = MEMORY.images.get(definition.image_id)
        if image is None:
            raise GRPCError(Status.NOT_FOUND, f"no image {definition.image_id}")
        labels = {TAG + t.tag_name: t.tag_value for t in request.tags}
        labels[APP] = request.app_id
        ttl = f"{definition.timeout_secs or 300}s"
        env = {}
        for source in request.secret_sources:
            env.update(source.env.contents)

        def make():
            with MEMORY.lock:
                earlier = MEMORY.by_key.get(key) if key else None
            if earlier:
                return earlier
            if image[0] == "snapshot":
                call = httpx.post(f"{self.url}/v1/snapshots/{image[1]}/restore",
                                  headers={"Authorization": f"Bearer {token}"},
                                  json={"ttl": ttl, "labels": labels, "wait": True}, timeout=600)
                if call.is_error:
                    raise SandboxerError(call.text)
                made = call.json()["id"]
            else:
                made = client.create(image[1], ttl=ttl, labels=labels,
                                     idempotency_key=f"modal-{key}" if key else None).id
            with MEMORY.lock:
                if key:
                    MEMORY.by_key[key] = made
                MEMORY.sandboxes[made] = {"env": env, "tags": None,
                                          "network": definition.network_access,
                                          "idle": definition.idle_timeout_secs}
            return made

        made = await daemon(make)
        sandbox_id = "sb-" + made
        router = jwt({"sub": sandbox_id, "exp": int(time.time()) + 3600})
        with MEMORY.lock:
            MEMORY.routers[router] = token
        answer = api_pb2.SandboxCreateV2Response(sandbox_id=sandbox_id, task_id=task_of(sandbox_id))
        answer.metadata.app_id = request.app_id
        answer.command_router_access.url = self.public
        answer.command_router_access.jwt = router
        answer.sandbox_token = "standin"
        await stream.send_message(answer)

    async def record(self, stream, sandbox_id):
        client = self.client(stream)
        return await daemon(lambda: client.get(daemon_id(sandbox_id)).refresh())

    async def SandboxGetTaskIdV2(self, stream):
        request = await stream.recv_message()
        record = await self.record(stream, request.sandbox_id)
        result = result_of(record.raw.get("state"))
        if result is not None:
            await stream.send_message(api_pb2.SandboxGetTaskIdResponse(task_result=result))
        else:
            await stream.send_message(api_pb2.SandboxGetTaskIdResponse(
                task_id=task_of(request.sandbox_id)))

    async def SandboxGetCommandRouterAccess(self, stream):
        request = await stream.recv_message()
        await self.record(stream, request.sandbox_id)
        router = jwt({"sub": request.sandbox_id, "exp": int(time.time()) + 3600})
        with MEMORY.lock:
            MEMORY.routers[router] = token_of(stream)
        await stream.send_message(api_pb2.SandboxGetCommandRouterAccessResponse(
            url=self.public, jwt=router))

    async def SandboxWaitV2(self, stream):
        request = await stream.recv_message()
        deadline = time.monotonic() + min(request.timeout, 50)
        while True:
            record = await self.record(stream, request.sandbox_id)
            result = result_of(record.raw.get("state"))
            if result is not None or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.25)
        answer = api_pb2.SandboxWaitResponse()
        if result is not None:
            answer.result.CopyFrom(result)
            answer.metadata.result.CopyFrom(result)
        answer.metadata.app_id = record.raw.get("labels", {}).get(APP, "")
        await stream.send_message(answer)

    async def SandboxTerminateV2(self, stream):
        request = await stream.recv_message()
        client = self.client(stream)
        record = await self.record(stream, request.sandbox_id)
        before = result_of(record.raw.get("state"))
        if before is None:
            await daemon(lambda: client.get(record.id).destroy())
        answer = api_pb2.SandboxTerminateResponse()
        if before is not None:
            answer.existing_result.CopyFrom(before)
        await stream.send_message(answer)

    def tags(self, record):
        with MEMORY.lock:
            kept = (MEMORY.sandboxes.get(record.id) or {}).get("tags")
        if kept is not None:
            return kept
        labels = record.raw.get("labels") or {}
        return {k[len(TAG):]: v for k, v in labels.items() if k.startswith(TAG)}

    async def SandboxListV2(self, stream):
        request = await stream.recv_message()
        client = self.client(stream)
        labels = {APP: request.app_id} if request.app_id else {}
        wanted = {t.tag_name: t.tag_value for t in request.tags}
        records = await daemon(lambda: client.list(labels=labels))
        answer = api_pb2.SandboxListResponse()
        items = []
        for record in records:
            state = record.raw.get("state")
            if result_of(state) is not None and not request.include_finished:
                continue
            tags = self.tags(record)
            if any(tags.get(k) != v for k, v in wanted.items()):
                continue
            created = record.created_at.timestamp()
            if request.before_timestamp and created >= request.before_timestamp:
                continue
            items.append((created, record, tags))
        for created, record, tags in sorted(items, key=lambda i: -i[0]):
            info = answer.sandboxes.add(id="sb-" + record.id, created_at=created,
                                        app_id=record.raw.get("labels", {}).get(APP, ""))
            info.tags.extend(api_pb2.SandboxTag(tag_name=k, tag_value=v)
                             for k, v in sorted(tags.items()))
            info.task_info.id = task_of("sb-" + record.id)
            info.metadata.app_id = info.app_id
        await stream.send_message(answer)

    async def SandboxTagsGetV2(self, stream):
        request = await stream.recv_message()
        record = await self.record(stream, request.sandbox_id)
        answer = api_pb2.SandboxTagsGetResponse()
        answer.tags.extend(api_pb2.SandboxTag(tag_name=k, tag_value=v)
                           for k, v in sorted(self.tags(record).items()))
        await stream.send_message(answer)

    async def SandboxTagsSetV2(self, stream):
        request = await stream.recv_message()
        record = await self.record(stream, request.sandbox_id)
        with MEMORY.lock:
            MEMORY.sandboxes.setdefault(record.id, {})["tags"] = {
                t.tag_name: t.tag_value for t in request.tags}
        await stream.send_message(empty_pb2.Empty())


class Router(unimplemented(router_grpc.TaskCommandRouterBase)):
    def __init__(self, url):
        self.url = url

    def exec_of(self, task_id, exec_id):
        with MEMORY.lock:
            found = MEMORY.execs.get((task_id, exec_id))
        if found is None:
            raise GRPCError(Status.NOT_FOUND, f"no exec {exec_id}")
        return found

    async def TaskExecStart(self, stream):
        request = await stream.recv_message()
        token = router_token(stream)
        sandbox = daemon_id(sandbox_of_task(request.task_id))
        with MEMORY.lock:
            if (request.task_id, request.exec_id) in MEMORY.execs:
                await stream.send_message(router_pb2.TaskExecStartResponse())
                return
            running = Exec()
            MEMORY.execs[(request.task_id, request.exec_id)] = running
            env = dict((MEMORY.sandboxes.get(sandbox) or {}).get("env") or {})
        for source in request.secret_sources:
            env.update(source.env.contents)
        argv = list(request.command_args)
        if argv[:1] == [FS_TOOLS]:
            files = Files(self.url, token, sandbox, running)
            running.write = files.stdin
            await asyncio.to_thread(files.start, json.loads(argv[1]))
        else:
            body = {"argv": argv, "stdin": True}
            if request.workdir:
                body["cwd"] = request.workdir
            if env:
                body["env"] = env
            if request.HasField("timeout_secs"):
                body["timeout_s"] = request.timeout_secs
            await asyncio.to_thread(start_command, self.url, token, sandbox, body, running)
        await stream.send_message(router_pb2.TaskExecStartResponse())

    async def TaskExecStdioRead(self, stream):
        request = await stream.recv_message()
        router_token(stream)
        running = self.exec_of(request.task_id, request.exec_id)
        offset = request.offset
        while True:
            with running.lock:
                data = bytes(running.out[request.file_descriptor][offset:])
                done = running.done or running.timed_out
            if data:
                await stream.send_message(router_pb2.TaskExecStdioReadResponse(data=data))
                offset += len(data)
            elif done:
                return
            else:
                await asyncio.sleep(0.02)

    async def answer_exit(self, stream, running, kind):
        answer = kind()
        if running.signal is not None:
            answer.signal = running.signal
        elif running.code is not None:
            answer.code = running.code
        await stream.send_message(answer)

    async def TaskExecWait(self, stream):
        request = await stream.recv_message()
        router_token(stream)
        running = self.exec_of(request.task_id, request.exec_id)
        deadline = time.monotonic() + 50
        while not running.done:
            if time.monotonic() > deadline:
                raise GRPCError(Status.DEADLINE_EXCEEDED, "still running")
            await asyncio.sleep(0.02)
        await self.answer_exit(stream, running, router_pb2.TaskExecWaitResponse)

    async def TaskExecPoll(self, stream):
        request = await stream.recv_message()
        router_token(stream)
        running = self.exec_of(request.task_id, request.exec_id)
        await self.answer_exit(stream, running, router_pb2.TaskExecPollResponse)

    async def TaskExecStdinWriteStream(self, stream):
        running = None
        async for message in stream:
            if message.HasField("start"):
                router_token(stream)
                running = self.exec_of(message.start.task_id, message.start.exec_id)
            elif message.HasField("end"):
                await asyncio.to_thread(running.write, b"", True)
            elif running is not None:
                await asyncio.to_thread(running.write, bytes(message.data), False)
        await stream.send_message(router_pb2.TaskExecStdinWriteStreamResponse())

    async def TaskExecStdinWrite(self, stream):
        request = await stream.recv_message()
        router_token(stream)
        running = self.exec_of(request.task_id, request.exec_id)
        await asyncio.to_thread(running.write, bytes(request.data), request.eof)
        await stream.send_message(router_pb2.TaskExecStdinWriteResponse())

    async def TaskExecStdinStatus(self, stream):
        request = await stream.recv_message()
        router_token(stream)
        running = self.exec_of(request.task_id, request.exec_id)
        await stream.send_message(router_pb2.TaskExecStdinStatusResponse(
            num_bytes_written=len(running.stdin), closed=running.closed))

    async def TaskSnapshotFilesystem(self, stream):
        request = await stream.recv_message()
        token = router_token(stream)
        sandbox = daemon_id(sandbox_of_task(request.task_id))
        client = Sandboxer(self.url, token)
        taken = await daemon(lambda: client.get(sandbox).snapshot(f"modal-{request.snapshot_id}"))
        image_id = "im-snap-" + taken["id"]
        with MEMORY.lock:
            MEMORY.images[image_id] = ("snapshot", taken["id"])
        await stream.send_message(router_pb2.TaskSnapshotFilesystemResponse(image_id=image_id))


def start_command(url, token, sandbox, body, running):
    """Starts a daemon command and a thread that copies its output into
    `running`; a command that cannot start ends as a shell's would (127)."""
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{url}/v1/sandboxes/{sandbox}/commands"
    started = httpx.post(base, json=body, headers=headers, timeout=60)
    if started.status_code == 404 and "cannot start" in started.text:
        running.out[1] += started.json()["error"]["message"].encode() + b"\n"
        running.finish(code=127)
        running.write = lambda data, eof: None
        return
    if started.is_error:
        raise GRPCError(Status.FAILED_PRECONDITION, started.text)
    exec_id = started.json()["exec_id"]

    def write(data, eof):
        with running.lock:
            running.stdin += data
            running.closed = running.closed or eof
        httpx.post(f"{base}/{exec_id}/stdin", headers=headers, timeout=60,
                   json={"data": base64.b64encode(data).decode(), "eof": eof})

    running.write = write

    def copy():
        reader = EventReader()
        with httpx.stream("GET", f"{base}/{exec_id}/output", headers=headers,
                          timeout=None) as answer:
            for line in answer.iter_lines():
                event = reader.feed(line)
                if isinstance(event, Output):
                    with running.lock:
                        running.out[1 if event.stream == "stderr" else 0] += event.data
                elif isinstance(event, Exit):
                    if event.timed_out:
                        running.timed_out = True
                    elif event.signal is not None:
                        running.finish(signal=event.signal)
                    else:
                        running.finish(code=event.exit_code)
                    return
        running.finish(code=-1)

    threading.Thread(target=copy, daemon=True).start()


class Files:
    """The client's filesystem helper, answered from the daemon's file calls:
    its JSON command, stdout and stderr (`{error_kind, message}`) and exit."""

    KINDS = {404: "NotFound", 403: "PermissionDenied", 409: "AlreadyExists"}

    def __init__(self, url, token, sandbox, running):
        self.client = Sandboxer(url, token).get(sandbox)
        self.running = running
        self.pending = None

    def fail(self, error, path):
        status = getattr(error, "status", 500) or 500
        message = str(error)
        kind = self.KINDS.get(status, "NotSupported")
        if "not a directory" in message.lower():
            kind = "NotDirectory"
        elif "is a directory" in message.lower():
            kind = "IsDirectory"
        self.running.out[1] += json.dumps({"error_kind": kind, "message": message,
                                           "detail": path}).encode()
        self.running.finish(code=1)

    def entry(self, f):
        kind = {"dir": "directory", "symlink": "symlink"}.get(f.kind, "file")
        bits = f.mode & 0o777
        return {"name": f.name, "path": f.path, "type": kind, "size": f.size,
                "mode": f.mode, "permissions": format(bits, "o"), "owner": "",
                "group": "", "modified_time": float(f.modified_unix)}

    def start(self, command):
        (name, args), = command.items()
        path = args.get("path", "")
        if name == "WriteFile":
            self.pending = (path, bytearray())
            return
        try:
            if name == "ReadFile":
                self.running.out[0] += self.client.read_file(path)
            elif name == "ListFiles":
                self.running.out[0] += json.dumps(
                    [self.entry(f) for f in self.client.list_files(path)]).encode()
            elif name == "Stat":
                self.running.out[0] += json.dumps(self.entry(self.client.stat(path))).encode()
            elif name == "MakeDirectory":
                self.client.mkdir(path)
            elif name == "Remove":
                self.client.remove(path, recursive=bool(args.get("recursive")))
            else:
                self.running.out[1] += json.dumps({"error_kind": "NotSupported",
                                                   "message": f"{name}"}).encode()
                self.running.finish(code=1)
                return
        except SandboxerError as e:
            self.fail(e, path)
            return
        self.running.finish(code=0)

    def stdin(self, data, eof):
        with self.running.lock:
            self.running.stdin += data
            self.running.closed = self.running.closed or eof
        if self.pending is None:
            return
        self.pending[1].extend(data)
        if eof:
            path, content = self.pending
            try:
                self.client.write_file(path, bytes(content))
            except SandboxerError as e:
                self.fail(e, path)
                return
            self.running.finish(code=0)


async def serve(args):
    public = f"http://127.0.0.1:{args.port}"
    control = Control(args.sandboxer.rstrip("/"), public)
    router = Router(args.sandboxer.rstrip("/"))
    services = [control, router]
    if args.record:
        lock = threading.Lock()
        for service in services:
            wrap_for_recording(service, args.record, lock)
    server = Server(services)
    await server.start("127.0.0.1", args.port)
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    await server.wait_closed()


def wrap_for_recording(service, path, lock):
    """Replaces `service`'s mapping so each request's shape is recorded as it
    is read (`stream.recv_message`, and each message of a client stream)."""
    mapping = service.__mapping__()

    def wrapped(method, handler):
        async def recorded(stream):
            receive = stream.recv_message

            async def recv_message():
                message = await receive()
                if message is not None:
                    record_shape(path, lock, method, message)
                return message
            stream.recv_message = recv_message
            return await handler(stream)
        return recorded

    new = {}
    for name, entry in mapping.items():
        method = name.rsplit("/", 1)[-1]
        new[name] = entry._replace(func=wrapped(method, entry.func))
    service.__mapping__ = lambda: new


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sandboxer", required=True)
    parser.add_argument("--record")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
