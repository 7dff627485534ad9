"""`OpenShell`, the extension `sandboxer-ext-openshell` serves: each sandbox is
an OpenShell sandbox in the configured workspace, named by its sandboxer id
(OpenShell addresses sandboxes by name), of the profile's `spec.image`, with
sandboxer's labels (with `sandboxer.id`, so orphans are found) and a digest
of the create as a label; the profile's network as its policy (a domain
allow-list the gateway enforces by name); secrets as its environment.
OpenShell has no lifetime of its own: sandboxer's reaper ends its sandboxes.
Commands are `ExecSandbox` streams, run as argv without a login shell.
"""

import threading
from decimal import Decimal, InvalidOperation

from openshell import DeletionOutcome
from openshell._proto import openshell_pb2
from sandboxer_ext import (
    Cancelled,
    ExtError,
    Extension,
    already_exists,
    deadline_exceeded,
    internal,
    invalid_argument,
    not_found,
)

from sandboxer_ext.results import create_digest, exec_result

from . import gateway
from .policy import policy_of

HOST = "openshell"
DIGEST = "sandboxer-openshell.request"
LABEL_ID = "sandboxer.id"
# A longer label selector is applied here, not sent.
MAX_SELECTOR = 1024
FEATURES = ["egress.deny", "egress.allowlist", "egress.domains", "secrets"]


def state_of(phase):
    return {
        openshell_pb2.SANDBOX_PHASE_PROVISIONING: "provisioning",
        openshell_pb2.SANDBOX_PHASE_STARTING: "provisioning",
        openshell_pb2.SANDBOX_PHASE_READY: "ready",
        openshell_pb2.SANDBOX_PHASE_STOPPED: "stopped",
        openshell_pb2.SANDBOX_PHASE_STOPPING: "stopped",
        openshell_pb2.SANDBOX_PHASE_COMPLETED: "stopped",
        openshell_pb2.SANDBOX_PHASE_ERROR: "failed",
        openshell_pb2.SANDBOX_PHASE_DELETING: "failed",
    }.get(phase, "provisioning")






class OpenShell(Extension):
    name = "openshell"
    version = "0.1.0"
    features = FEATURES
    options_schema = {
        "endpoint": {"description": "the gateway's gRPC endpoint, host:port (a local "
                                   "gateway's by default)",
                     "default": "127.0.0.1:8080"},
        "token": {"description": "the bearer token the gateway takes (secret)",
                  "secret": True},
        "workspace": {"description": "the workspace sandboxes are made in",
                      "default": "default"},
        "ca_path": {"description": "a CA to check the gateway's TLS certificate with "
                                   "(plaintext when no TLS file is named)"},
        "cert_path": {"description": "a client certificate, for mTLS"},
        "key_path": {"description": "the client certificate's key, for mTLS"},
        "call_timeout_s": {"description": "the deadline of one gateway call", "default": 30},
        "ready_timeout_s": {"description": "how long a create waits for READY",
                            "default": 120},
        "usd_per_hour": {"description": "what a sandbox costs the operator an hour "
                                        "(OpenShell is self-hosted: no published price)",
                         "default": "0"},
    }

    def start(self, options):
        for name in ("endpoint", "workspace"):
            if not isinstance(options.get(name), str) or not options[name]:
                raise invalid_argument(f"options.{name}", f"option {name} must be a string")
        for name in ("call_timeout_s", "ready_timeout_s"):
            value = options.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise invalid_argument(f"options.{name}", f"option {name} must be seconds above 0")
        try:
            self.rate = Decimal(str(options.get("usd_per_hour")))
        except InvalidOperation:
            self.rate = Decimal(-1)
        if not self.rate.is_finite() or self.rate < 0:
            raise invalid_argument("options.usd_per_hour",
                                   "option usd_per_hour must be a price of zero or more")
        self.workspace = options["workspace"]
        self.ready_timeout = float(options.get("ready_timeout_s") or 120)
        self.client = gateway.client_of(options)
        self.naming = threading.Lock()

    def handlers(self):
        return {
            "sandbox/create": self.create,
            "sandbox/get": self.get,
            "sandbox/list": self.list,
            "sandbox/destroy": self.destroy,
            "sandbox/exec": self.exec,
            "cost/estimate": self.cost_estimate,
            "host/health": self.health,
        }

    # ---- lifecycle ----

    def sandbox_of(self, ref):
        return {
            "sandbox_id": ref.name,
            "state": state_of(ref.phase),
            "backend_ref": f"{ref.workspace or self.workspace}/{ref.name}",
            "labels": {k: v for k, v in ref.labels.items() if k != DIGEST},
            "endpoints": [],
            "details": {"host": HOST, "openshell_id": ref.id,
                        "workspace": ref.workspace or self.workspace,
                        "policy_version": ref.current_policy_version},
        }

    def find(self, name):
        try:
            return self.client.get(name, workspace=self.workspace)
        except Exception as e:  # noqa: BLE001 - the client raises grpc errors
            if gateway.has_code(e, "NOT_FOUND"):
                return None
            raise gateway.translated(e, "get") from None

    def same_or_conflict(self, ref, digest, sandbox_id):
        if ref.labels.get(DIGEST) != digest:
            raise already_exists(f"sandbox {sandbox_id} exists on OpenShell, made by a "
                                 "different create")
        return ref

    def create(self, params, call):
        sandbox_id = params.sandbox_id()
        profile = params.object("profile", required=True)
        profile.required("id", str)
        params.instant("expires_at")
        spec = profile.raw.get("spec")
        if not isinstance(spec, dict):
            raise invalid_argument("profile.spec", "profile.spec must be a mapping with an image")
        image = spec.get("image")
        if not isinstance(image, str) or not image:
            raise invalid_argument("profile.spec.image",
                                   "profile.spec.image names the image sandboxes run")
        params.object("placement").only_host("host", HOST)
        labels = params.strings("labels")
        secrets = params.strings("secrets")
        network = params.optional("network", dict, {})
        policy = policy_of(spec.get("policy"), network)
        digest = create_digest(params)
        labels[LABEL_ID] = sandbox_id
        labels[DIGEST] = digest

        request = openshell_pb2.SandboxSpec()
        request.template.image = image
        request.environment.update(secrets)
        if policy is not None:
            request.policy.CopyFrom(policy)
        with self.naming:
            existing = self.find(sandbox_id)
            if existing is not None:
                ref = self.same_or_conflict(existing, digest, sandbox_id)
            else:
                try:
                    ref = self.client.create(workspace=self.workspace, spec=request,
                                             name=sandbox_id, labels=labels)
                except Exception as e:  # noqa: BLE001
                    if gateway.has_code(e, "ALREADY_EXISTS"):
                        ref = self.same_or_conflict(self.find(sandbox_id), digest, sandbox_id)
                    else:
                        raise gateway.translated(e, "create", "profile.spec") from None
        call.check()
        try:
            ref = self.client.wait_ready(sandbox_id, workspace=self.workspace,
                                         timeout_seconds=self.ready_timeout)
        except Exception as e:  # noqa: BLE001
            if gateway.code_of(e) is None:
                raise ExtError("Unavailable", f"OpenShell sandbox {sandbox_id} did not become "
                                              f"ready: {e}") from None
            raise gateway.translated(e, "wait for ready") from None
        return self.sandbox_of(ref)

    def get(self, params, call):
        sandbox_id = params.sandbox_id()
        ref = self.find(sandbox_id)
        if ref is None:
            raise not_found(f"sandbox {sandbox_id} is not on OpenShell")
        return self.sandbox_of(ref)

    def list(self, params, call):
        wanted = params.strings("labels")
        # The gateway's selector is equalities joined by commas: values that
        # could be read otherwise are filtered here instead.
        plain = {k: v for k, v in wanted.items()
                 if all(c.isalnum() or c in "._-/" for c in k + v) and v}
        selector = ",".join(f"{k}={v}" for k, v in sorted(plain.items())) or None
        if selector is not None and len(selector) > MAX_SELECTOR:
            selector = None
        try:
            refs = self.client.list_all(workspace=self.workspace, label_selector=selector)
        except Exception as e:  # noqa: BLE001
            raise gateway.translated(e, "list") from None
        found = [r for r in refs if LABEL_ID in r.labels
                 and all(r.labels.get(k) == v for k, v in wanted.items())]
        return {"sandboxes": [self.sandbox_of(r) for r in found]}

    def destroy(self, params, call):
        sandbox_id = params.sandbox_id()
        try:
            result = self.client.delete(sandbox_id, workspace=self.workspace, allow_missing=True)
            if result.outcome == DeletionOutcome.ACCEPTED:
                self.client.wait_deleted(sandbox_id, workspace=self.workspace,
                                         expected_sandbox_id=result.sandbox_id)
        except Exception as e:  # noqa: BLE001
            if gateway.has_code(e, "NOT_FOUND"):
                return {"destroyed": True}
            raise gateway.translated(e, "delete") from None
        return {"destroyed": True}

    # ---- inside ----

    def exec(self, params, call):
        sandbox_id, argv, stdin, timeout = params.exec_call("OpenShell")
        request = openshell_pb2.ExecSandboxRequest(
            sandbox=sandbox_id, command=list(argv), stdin=stdin.encode(), no_login_shell=True)
        request.workspace_scope.workspace = self.workspace
        request.execution_timeout.seconds = timeout
        # The client's own stub, for the call object a cancel can end.
        stream = self.client._stub.ExecSandbox(request, timeout=timeout + 10)
        call.on_cancel(stream.cancel)
        out, err, exit_code = bytearray(), bytearray(), None
        try:
            for event in stream:
                kind = event.WhichOneof("payload")
                if kind == "stdout":
                    out += event.stdout.data
                elif kind == "stderr":
                    err += event.stderr.data
                elif kind == "exit":
                    exit_code = event.exit.exit_code
        except Exception as e:  # noqa: BLE001
            if call.cancelled.is_set():
                raise Cancelled() from None
            if gateway.has_code(e, "DEADLINE_EXCEEDED"):
                raise deadline_exceeded(f"the command ran past its {timeout} s") from None
            # The gateway itself says when there is no such sandbox.
            if gateway.has_code(e, "NOT_FOUND"):
                raise not_found(f"sandbox {sandbox_id} is not on OpenShell") from None
            raise gateway.translated(e, "exec") from None
        if exit_code is None:
            raise internal("OpenShell's exec stream ended without an exit event")
        return exec_result(exit_code, bytes(out), bytes(err))

    # ---- cost and health ----

    def cost_estimate(self, params, call):
        params.object("profile", required=True)
        params.object("resources")
        seconds = params.required("duration_s", int)
        amount = (self.rate * seconds / 3600).normalize()
        return {"currency": "USD", "amount": float(amount), "amount_exact": str(amount),
                "breakdown": {"rate_per_hour": float(self.rate), "seconds": seconds}}

    def health(self, params, call):
        params.only_host("host", HOST)
        try:
            answer = self.client.health()
        except Exception as e:  # noqa: BLE001
            return {"hosts": [{"host": HOST, "reachable": False,
                               "error": str(gateway.translated(e, "health"))}]}
        healthy = answer.status == openshell_pb2.SERVICE_STATUS_HEALTHY
        entry = {"host": HOST, "reachable": answer.status in (
            openshell_pb2.SERVICE_STATUS_HEALTHY, openshell_pb2.SERVICE_STATUS_DEGRADED)}
        entry["details"] = {"status": openshell_pb2.ServiceStatus.Name(answer.status),
                            "version": answer.version}
        if not healthy:
            entry["error"] = f"the gateway says {entry['details']['status']}"
        return {"hosts": [entry]}
