"""A local stand-in for NVIDIA OpenShell's gateway, for tests only: never an
OpenShell.

It serves the gateway's one gRPC service (`openshell.v1.OpenShell`) from the
service definitions shipped in the official `openshell` client (0.1.5; see
`workplans/19-openshell-facts.md`), plaintext on loopback, backed by a real
`sandboxer serve`: an OpenShell sandbox is a sandboxer sandbox of the profile
its `spec.template.image` names, found by its workspace and name (labels), and
every exec is a command of the daemon. The bearer token is passed on as the
daemon token. Policies are kept and answered (UpdateConfig, GetSandboxConfig)
and checked for the documented shape, but not enforced: the daemon's profile
decides the sandbox's network.

    python server.py --port P --sandboxer http://127.0.0.1:D [--record FILE]

With `--record`, the shape of every request (its RPC and the paths of the
fields it sets) is appended to FILE as a JSON line: what a client sends. Prints `listening on 127.0.0.1:P` when ready.
"""

import argparse
import base64
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "sdk/python/src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
import httpx  # noqa: E402
from openshell._proto import openshell_pb2 as pb  # noqa: E402
from openshell._proto import openshell_pb2_grpc as pb_grpc  # noqa: E402
from openshell._proto import sandbox_pb2 as sandbox_pb  # noqa: E402
from sandboxer import Sandboxer  # noqa: E402
from sandboxer._calls import EventReader  # noqa: E402
from sandboxer.errors import SandboxerError  # noqa: E402
from sandboxer.models import Exit, Output  # noqa: E402
from shapes import record_shape  # noqa: E402

NAME = "openshell.name"
WORKSPACE = "openshell.workspace"
LABEL = "openshell.label."
GONE = ("destroyed", "destroying", "failed", "expired")


class Memory:
    """What the stand-in keeps that sandboxer does not: each sandbox's
    environment and policy (memory only), and a lock that keeps names unique."""

    def __init__(self):
        self.lock = threading.Lock()
        self.naming = threading.Lock()
        self.env = {}
        self.policy = {}

    def set(self, store, sandbox_id, value):
        with self.lock:
            getattr(self, store)[sandbox_id] = value

    def get(self, store, sandbox_id, default=None):
        with self.lock:
            return getattr(self, store).get(sandbox_id, default)


MEMORY = Memory()


def phase_of(state):
    return {
        "pending": pb.SANDBOX_PHASE_PROVISIONING,
        "provisioning": pb.SANDBOX_PHASE_PROVISIONING,
        "ready": pb.SANDBOX_PHASE_READY,
        "active": pb.SANDBOX_PHASE_READY,
        "paused": pb.SANDBOX_PHASE_STOPPED,
        "destroying": pb.SANDBOX_PHASE_DELETING,
        "failed": pb.SANDBOX_PHASE_ERROR,
    }.get(state, pb.SANDBOX_PHASE_UNKNOWN)


def workspace_of(selector, context):
    """The one workspace a request names, or None for all of them."""
    if selector.WhichOneof("selection") == "all_workspaces":
        return None
    if not selector.workspace:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "workspace_scope: name a workspace")
    return selector.workspace


def selector_labels(text, context):
    """`k=v,k2=v2` as sandboxer label filters."""
    wanted = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = term.partition("=")
        if not sep or not key:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"label_selector: {term!r} is not key=value")
        wanted[LABEL + key.strip()] = value.strip()
    return wanted


def check_policy(policy, context):
    """The documented constraints a gateway checks at submission."""
    if policy.version not in (0, 1):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "policy.version must be 1")
    for key, rule in policy.network_policies.items():
        if key.startswith("_provider_"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"policy.network_policies[{key}]: keys may not start with _provider_")
        for i, endpoint in enumerate(rule.endpoints):
            where = f"policy.network_policies[{key}].endpoints[{i}]"
            if not endpoint.port and not endpoint.ports:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{where}.port: port or ports required")
            if endpoint.port and endpoint.ports:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: port and ports both set")
            if not endpoint.host and not endpoint.allowed_ips:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{where}.host: a host or allowed_ips")
            labels = endpoint.host.split(".")
            if "*" in endpoint.host and len(labels) < 3:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{where}.host: a wildcard needs at least three labels")


class Gateway(pb_grpc.OpenShellServicer):
    def __init__(self, sandboxer_url):
        self.sandboxer_url = sandboxer_url

    # ---- plumbing ----

    def token(self, context):
        for key, value in context.invocation_metadata():
            if key == "authorization" and value.startswith("Bearer "):
                return value[len("Bearer "):]
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing authorization: Bearer")

    def client(self, context):
        return Sandboxer(self.sandboxer_url, self.token(context))

    def live(self, client, workspace, name=None, extra=None):
        labels = dict(extra or {})
        if workspace is not None:
            labels[WORKSPACE] = workspace
        if name is not None:
            labels[NAME] = name
        return [r for r in client.list(labels=labels) if r.raw.get("state") not in GONE]

    def find(self, client, workspace, name, context):
        found = self.live(client, workspace, name)
        if not found:
            context.abort(grpc.StatusCode.NOT_FOUND, f"sandbox {name} not found")
        return found[0]

    def message(self, record):
        raw = record.raw
        labels = raw.get("labels") or {}
        meta = {"id": record.id, "name": labels.get(NAME, ""),
                "workspace": labels.get(WORKSPACE, ""),
                "labels": {k[len(LABEL):]: v for k, v in labels.items() if k.startswith(LABEL)}}
        sandbox = pb.Sandbox()
        sandbox.metadata.id = meta["id"]
        sandbox.metadata.name = meta["name"]
        sandbox.metadata.workspace = meta["workspace"]
        sandbox.metadata.labels.update(meta["labels"])
        sandbox.spec.template.image = raw.get("profile_id", "").removeprefix("profile.")
        policy = MEMORY.get("policy", record.id)
        if policy is not None:
            sandbox.spec.policy.CopyFrom(policy[1])
            sandbox.status.current_policy_version = policy[0]
        sandbox.status.phase = phase_of(raw.get("state"))
        return sandbox

    def guarded(self, context, work):
        try:
            return work()
        except SandboxerError as e:
            status = getattr(e, "status", 500) or 500
            code = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
                    403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
                    409: grpc.StatusCode.FAILED_PRECONDITION,
                    429: grpc.StatusCode.RESOURCE_EXHAUSTED}.get(status, grpc.StatusCode.INTERNAL)
            context.abort(code, str(e))

    # ---- the service ----

    def Health(self, request, context):
        return pb.HealthResponse(status=pb.SERVICE_STATUS_HEALTHY, version="standin-0.1.5")

    def CreateSandbox(self, request, context):
        client = self.client(context)
        workspace = workspace_of(request.workspace_scope, context)
        if workspace is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a sandbox is made in one workspace")
        image = request.spec.template.image
        if not image:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "spec.template.image: the stand-in makes sandboxes of a named image "
                          "(a sandboxer profile)")
        if request.spec.HasField("policy"):
            check_policy(request.spec.policy, context)
        name = request.name or f"sandbox-{int(time.time() * 1000):x}"
        labels = {LABEL + k: v for k, v in request.labels.items()}
        labels.update({NAME: name, WORKSPACE: workspace})

        def work():
            with MEMORY.naming:
                if self.live(client, workspace, name):
                    context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                  f"sandbox {name} already exists in workspace {workspace}")
                sandbox = client.create(image, labels=labels)
            env = dict(request.spec.template.environment)
            env.update(request.spec.environment)
            MEMORY.set("env", sandbox.id, env)
            if request.spec.HasField("policy"):
                MEMORY.set("policy", sandbox.id, (1, request.spec.policy))
            return pb.SandboxResponse(sandbox=self.message(sandbox.refresh()))

        return self.guarded(context, work)

    def GetSandbox(self, request, context):
        client = self.client(context)
        workspace = workspace_of(request.workspace_scope, context)
        return self.guarded(context, lambda: pb.SandboxResponse(
            sandbox=self.message(self.find(client, workspace, request.name, context))))

    def ListSandboxes(self, request, context):
        client = self.client(context)
        workspace = workspace_of(request.workspace_scope, context)
        wanted = selector_labels(request.label_selector, context)

        def work():
            records = sorted(self.live(client, workspace, extra=wanted),
                             key=lambda r: (r.raw.get("created_at", ""), r.id))
            start = int(request.page_token.removeprefix("after-") or 0) if request.page_token else 0
            size = request.page_size or 100
            page = records[start:start + size]
            more = start + size < len(records)
            return pb.ListSandboxesResponse(
                sandboxes=[self.message(r) for r in page],
                next_page_token=f"after-{start + size}" if more else "")

        return self.guarded(context, work)

    def DeleteSandbox(self, request, context):
        client = self.client(context)
        workspace = workspace_of(request.workspace_scope, context)

        def work():
            found = self.live(client, workspace, request.name)
            if not found:
                if request.allow_missing:
                    return pb.DeleteSandboxResponse(outcome=pb.DELETION_OUTCOME_ALREADY_ABSENT)
                context.abort(grpc.StatusCode.NOT_FOUND, f"sandbox {request.name} not found")
            client.get(found[0].id).destroy()
            return pb.DeleteSandboxResponse(outcome=pb.DELETION_OUTCOME_COMPLETED,
                                            sandbox_id=found[0].id)

        return self.guarded(context, work)

    def ExecSandbox(self, request, context):
        token = self.token(context)
        client = Sandboxer(self.sandboxer_url, token)
        workspace = workspace_of(request.workspace_scope, context)
        if not request.command:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "command must not be empty")
        record = self.guarded(context, lambda: self.find(client, workspace, request.sandbox, context))
        env = dict(MEMORY.get("env", record.id, {}))
        env.update(request.environment)
        body = {"argv": list(request.command), "stdin": True}
        if request.workdir:
            body["cwd"] = request.workdir
        if env:
            body["env"] = env
        if request.execution_timeout.seconds:
            body["timeout_s"] = request.execution_timeout.seconds
        base = f"{self.sandboxer_url}/v1/sandboxes/{record.id}/commands"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(headers=headers, timeout=None) as http:
            started = http.post(base, json=body)
            if started.status_code == 404 and "cannot start" in started.text:
                # A command that does not exist ends as a shell's would (127).
                yield pb.ExecSandboxEvent(stderr={"data": started.json()["error"]["message"]
                                                  .encode() + b"\n"})
                yield pb.ExecSandboxEvent(exit={"exit_code": 127})
                return
            if started.is_error:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, started.text)
            exec_id = started.json()["exec_id"]
            # A caller that goes away (cancel, deadline) takes the command along.
            context.add_callback(lambda: httpx.post(
                f"{base}/{exec_id}/signal", headers=headers, json={"signal": "kill"}))
            http.post(f"{base}/{exec_id}/stdin",
                      json={"data": base64.b64encode(request.stdin).decode(), "eof": True})
            reader = EventReader()
            with http.stream("GET", f"{base}/{exec_id}/output") as answer:
                for line in answer.iter_lines():
                    event = reader.feed(line)
                    if isinstance(event, Output):
                        chunk = pb.ExecSandboxEvent()
                        if event.stream == "stderr":
                            chunk.stderr.data = event.data
                        else:
                            chunk.stdout.data = event.data
                        yield chunk
                    elif isinstance(event, Exit):
                        if event.timed_out:
                            # Unverified against a real gateway: a deadline
                            # as gRPC says one.
                            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                          "execution_timeout reached")
                        end = pb.ExecSandboxEvent()
                        end.exit.exit_code = event.exit_code
                        yield end
                        return

    def UpdateConfig(self, request, context):
        client = self.client(context)
        workspace = workspace_of(request.workspace_scope, context)
        if not request.sandbox or not request.HasField("policy"):
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "the stand-in replaces one sandbox's whole policy only")
        check_policy(request.policy, context)
        record = self.guarded(context, lambda: self.find(client, workspace, request.sandbox, context))
        version = MEMORY.get("policy", record.id, (0, None))[0] + 1
        MEMORY.set("policy", record.id, (version, request.policy))
        return pb.UpdateConfigResponse(version=version,
                                       policy_hash=f"v{version}")

    def GetSandboxConfig(self, request, context):
        client = self.client(context)
        workspace = workspace_of(request.workspace_scope, context)
        record = self.guarded(context, lambda: self.find(client, workspace, request.name, context))
        version, policy = MEMORY.get("policy", record.id, (0, None))
        answer = sandbox_pb.GetSandboxConfigResponse(version=version, workspace=workspace or "")
        if policy is not None:
            answer.policy.CopyFrom(policy)
        return answer


class Recorder(grpc.ServerInterceptor):
    """Appends each request's shape to a file (see the module's doc)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def record(self, method, request):
        record_shape(self.path, self.lock, method, request)

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]

        def wrap(serve):
            def recorded(request, context):
                self.record(method, request)
                return serve(request, context)
            return recorded

        kinds = {"unary_unary": grpc.unary_unary_rpc_method_handler,
                 "unary_stream": grpc.unary_stream_rpc_method_handler}
        for kind, make in kinds.items():
            serve = getattr(handler, kind)
            if serve is not None:
                return make(wrap(serve), request_deserializer=handler.request_deserializer,
                            response_serializer=handler.response_serializer)
        return handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sandboxer", required=True)
    parser.add_argument("--record")
    args = parser.parse_args()
    interceptors = [Recorder(args.record)] if args.record else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), interceptors=interceptors,
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    pb_grpc.add_OpenShellServicer_to_server(Gateway(args.sandboxer.rstrip("/")), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
