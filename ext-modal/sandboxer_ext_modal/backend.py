"""`Modal`, the extension `sandboxer-ext-modal` serves: each sandbox is a Modal
sandbox in one app (`app`), of the profile's `spec.image` (a registry image)
or `spec.image_id`, tagged with sandboxer's labels (`sandboxer.id` finds it
again, and orphans) and a digest of the create; the profile's secrets as a
Modal secret, its network as Modal's blocked network or allow-lists, its
resources as Modal's cores and memory. Modal cannot move a running sandbox's
timeout, so the timeout is a backstop (`timeout_s`, Modal's 24 h by default)
and sandboxer's reaper ends the sandbox at its expiry. Commands run through
Modal's command router; a snapshot is a filesystem snapshot (an image), and a
restore a new sandbox of it.
"""

import os
import threading
from datetime import datetime, timezone

from sandboxer_ext import (
    Cancelled,
    ExtError,
    Extension,
    already_exists,
    deadline_exceeded,
    invalid_argument,
    not_found,
)

from sandboxer_ext.results import create_digest, exec_result

from . import network
from .prices import Prices

HOST = "modal"
LABEL_ID = "sandboxer.id"
DIGEST = "sandboxer-modal.request"
SNAPSHOT_TAG = "sandboxer-modal.snapshot."
MODAL_MAX_TIMEOUT_S = 24 * 3600


def translated(error, what):
    """The client's exceptions as the protocol's error kinds."""
    import modal.exception as e

    kinds = [(e.NotFoundError, "NotFound"), (e.AlreadyExistsError, "AlreadyExists"),
             (e.AuthError, "PermissionDenied"), (e.ResourceExhaustedError, "ResourceExhausted"),
             (e.ConnectionError, "Unavailable"), (e.InvalidError, "InvalidArgument"),
             (e.TimeoutError, "DeadlineExceeded")]
    kind = next((k for cls, k in kinds if isinstance(error, cls)), "Internal")
    if type(error).__name__ == "ServiceError":
        kind = "Unavailable"
    field = "profile.spec" if kind == "InvalidArgument" else None
    return ExtError(kind, f"Modal {what}: {type(error).__name__}: {error}", field)


class Modal(Extension):
    name = "modal"
    version = "0.1.0"
    features = ["egress.deny", "secrets", "resources.cpus", "resources.memory_mb"]
    options_schema = {
        "token_id": {"description": "the Modal token id (a provider key: secret)", "secret": True},
        "token_secret": {"description": "the Modal token secret (a provider key: secret)",
                         "secret": True},
        "server_url": {"description": "Modal's API", "default": "https://api.modal.com"},
        "app": {"description": "the Modal app sandboxes are made in (made if missing)",
                "default": "sandboxer"},
        "environment": {"description": "the Modal environment (the account's default when unset)"},
        "timeout_s": {"description": "each sandbox's Modal timeout, a backstop behind "
                                     "sandboxer's own expiry (Modal's most: 24 h)",
                      "default": MODAL_MAX_TIMEOUT_S},
        "usd_per_core_second": {"description": "the price of a core-second, for cost/estimate "
                                               "(default: Modal's published price)"},
        "usd_per_gib_second": {"description": "the price of a GiB-second of memory, for "
                                              "cost/estimate (default: Modal's published price)"},
    }

    def start(self, options):
        self.prices = Prices(options)
        timeout = options.get("timeout_s")
        if not isinstance(timeout, int) or not 1 <= timeout <= MODAL_MAX_TIMEOUT_S:
            raise invalid_argument("options.timeout_s",
                                   f"option timeout_s must be 1 to {MODAL_MAX_TIMEOUT_S} seconds")
        self.timeout = timeout
        self.app_name = options["app"]
        self.environment = options.get("environment")
        self.token = (options.get("token_id"), options.get("token_secret"))
        # Read by the client when it first connects; never a credential.
        os.environ["MODAL_SERVER_URL"] = options["server_url"]
        os.environ.setdefault("MODAL_CONFIG_PATH", os.devnull)
        self.lock = threading.Lock()
        self._client = None
        self._app = None

    def handlers(self):
        return {
            "sandbox/create": self.create,
            "sandbox/get": self.get,
            "sandbox/list": self.list,
            "sandbox/destroy": self.destroy,
            "sandbox/exec": self.exec,
            "sandbox/snapshot": self.snapshot,
            "sandbox/restore": self.restore,
            "cost/estimate": self.cost_estimate,
            "host/health": self.health,
        }

    # ---- the client ----

    def client(self):
        import modal

        with self.lock:
            if self._client is None:
                if not all(self.token):
                    raise ExtError("FailedPrecondition",
                                   "no Modal token: give token_id and token_secret (provider keys)")
                self._client = modal.Client.from_credentials(*self.token)
            return self._client

    def app(self):
        import modal

        client = self.client()
        with self.lock:
            if self._app is None:
                try:
                    self._app = modal.App.lookup(self.app_name, create_if_missing=True,
                                                 client=client, environment_name=self.environment)
                except Exception as e:  # noqa: BLE001
                    raise translated(e, "app lookup") from None
            return self._app

    def find(self, sandbox_id):
        import modal

        try:
            found = list(modal.Sandbox.list(app_id=self.app().app_id, tags={LABEL_ID: sandbox_id},
                                            client=self.client()))
        except ExtError:
            raise
        except Exception as e:  # noqa: BLE001
            raise translated(e, "list") from None
        return found[0] if found else None

    def sandbox_of(self, sandbox_id, sb):
        tags = sb.get_tags()
        return {
            "sandbox_id": sandbox_id,
            "state": "ready",
            "backend_ref": sb.object_id,
            "labels": {k: v for k, v in tags.items()
                       if k != DIGEST and not k.startswith(SNAPSHOT_TAG)},
            "endpoints": [],
            "details": {"host": HOST, "modal_id": sb.object_id, "app": self.app_name},
        }

    # ---- lifecycle ----

    def check_create(self, params):
        sandbox_id = params.sandbox_id()
        profile = params.object("profile", required=True)
        profile.required("id", str)
        expires = params.instant("expires_at")
        if (expires - datetime.now(timezone.utc)).total_seconds() > self.timeout:
            # Modal would end it first: its timeout cannot be moved later.
            raise invalid_argument("expires_at",
                                   f"expires_at {expires.isoformat()} is past what Modal allows "
                                   f"(the timeout_s option, {self.timeout} s from now)")
        spec = profile.raw.get("spec")
        if not isinstance(spec, dict):
            raise invalid_argument("profile.spec", "profile.spec must be a mapping with an image")
        params.object("placement").only_host("host", HOST)
        return sandbox_id, spec

    def create(self, params, call, image=None):
        import modal

        sandbox_id, spec = self.check_create(params)
        if image is None:
            image = self.image_of(spec)
        labels = params.strings("labels")
        secrets = params.strings("secrets")
        resources = params.object("resources")
        cores = resources.optional("cpus", (int, float))
        memory = resources.optional("memory_mb", int)
        allow = network.allowances(params.optional("network", dict, {}))
        idle = spec.get("idle_timeout_s")
        if idle is not None and (not isinstance(idle, int) or idle < 1):
            raise invalid_argument("profile.spec.idle_timeout_s", "idle_timeout_s is whole seconds")
        digest = create_digest(params)
        tags = dict(labels)
        tags[LABEL_ID] = sandbox_id
        tags[DIGEST] = digest
        with self.lock_for(sandbox_id):
            existing = self.find(sandbox_id)
            if existing is not None:
                if existing.get_tags().get(DIGEST) != digest:
                    raise already_exists(f"sandbox {sandbox_id} exists on Modal, made by a "
                                         "different create")
                return self.sandbox_of(sandbox_id, existing)
            call.check()
            try:
                sb = modal.Sandbox.create(
                    app=self.app(), image=image, timeout=self.timeout, idle_timeout=idle,
                    secrets=[modal.Secret.from_dict(secrets)] if secrets else [],
                    tags=tags, cpu=cores, memory=memory, client=self.client(), **allow)
            except ExtError:
                raise
            except Exception as e:  # noqa: BLE001
                raise translated(e, "create") from None
        return self.sandbox_of(sandbox_id, sb)

    _locks = {}
    _locks_lock = threading.Lock()

    def lock_for(self, sandbox_id):
        """One create at a time per sandbox id (in this process)."""
        with self._locks_lock:
            return self._locks.setdefault(sandbox_id, threading.Lock())

    def image_of(self, spec):
        import modal

        if isinstance(spec.get("image_id"), str):
            return modal.Image.from_id(spec["image_id"], client=self.client())
        image = spec.get("image")
        if not isinstance(image, str) or not image:
            raise invalid_argument("profile.spec.image",
                                   "profile.spec.image names the registry image sandboxes run "
                                   "(or spec.image_id a Modal image)")
        return modal.Image.from_registry(image)

    def get(self, params, call):
        sandbox_id = params.sandbox_id()
        sb = self.find(sandbox_id)
        if sb is None:
            raise not_found(f"sandbox {sandbox_id} is not on Modal")
        return self.sandbox_of(sandbox_id, sb)

    def list(self, params, call):
        import modal

        wanted = params.strings("labels")
        try:
            found = list(modal.Sandbox.list(app_id=self.app().app_id, tags=wanted or None,
                                            client=self.client()))
        except ExtError:
            raise
        except Exception as e:  # noqa: BLE001
            raise translated(e, "list") from None
        out = []
        for sb in found:
            tags = sb.get_tags()
            if LABEL_ID in tags and all(tags.get(k) == v for k, v in wanted.items()):
                out.append(self.sandbox_of(tags[LABEL_ID], sb))
        return {"sandboxes": out}

    def destroy(self, params, call):
        sandbox_id = params.sandbox_id()
        sb = self.find(sandbox_id)
        if sb is not None:
            try:
                sb.terminate()
                sb.wait(raise_on_termination=False)
            except Exception as e:  # noqa: BLE001
                raise translated(e, "terminate") from None
        return {"destroyed": True}

    # ---- inside ----

    def exec(self, params, call):
        sandbox_id, argv, stdin, timeout = params.exec_call("Modal")
        sb = self.find(sandbox_id)
        if sb is None:
            raise not_found(f"sandbox {sandbox_id} is not on Modal")
        answer = {}

        def run():
            try:
                p = sb.exec(*argv, timeout=timeout, text=False)
                if stdin:
                    p.stdin.write(stdin.encode())
                p.stdin.write_eof()
                p.stdin.drain()
                out, err = p.stdout.read(), p.stderr.read()
                answer["result"] = (p.wait(), out, err)
            except Exception as e:  # noqa: BLE001
                answer["error"] = e

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        # A cancel answers at once; the command ends at its own timeout.
        while worker.is_alive():
            if call.cancelled.wait(0.05):
                raise Cancelled()
        if "error" in answer:
            raise translated(answer["error"], "exec") from None
        code, out, err = answer["result"]
        if code == -1:
            raise deadline_exceeded(f"the command ran past its {timeout} s")
        return exec_result(code, out, err)

    # ---- snapshots ----

    def snapshot(self, params, call):
        sandbox_id = params.sandbox_id()
        name = params.required("snapshot_name", str)
        sb = self.find(sandbox_id)
        if sb is None:
            raise not_found(f"sandbox {sandbox_id} is not on Modal")
        tags = sb.get_tags()
        taken = tags.get(SNAPSHOT_TAG + name)
        if taken is None:
            try:
                taken = sb.snapshot_filesystem().object_id
            except Exception as e:  # noqa: BLE001
                raise translated(e, "snapshot") from None
            tags[SNAPSHOT_TAG + name] = taken
            sb.set_tags(tags)
        return {"snapshot_id": taken, "snapshot_name": name, "sandbox_id": sandbox_id,
                "labels": {}, "details": {"modal_image_id": taken}}

    def restore(self, params, call):
        import modal

        snapshot_id = params.required("snapshot_id", str)
        if not snapshot_id.startswith("im-"):
            raise not_found(f"snapshot {snapshot_id} is not a Modal image")
        try:
            image = modal.Image.from_id(snapshot_id, client=self.client())
            return self.create(params, call, image=image)
        except ExtError as e:
            if e.kind == "NotFound":
                raise not_found(f"snapshot {snapshot_id} is not on Modal") from None
            raise

    # ---- cost and health ----

    def cost_estimate(self, params, call):
        params.object("profile", required=True)
        resources = params.object("resources")
        seconds = params.required("duration_s", int)
        return self.prices.estimate(resources.optional("cpus", (int, float)),
                                    resources.optional("memory_mb", int), seconds)

    def health(self, params, call):
        params.only_host("host", HOST)
        try:
            self.client().hello()
        except Exception as e:  # noqa: BLE001
            return {"hosts": [{"host": HOST, "reachable": False,
                               "error": str(e if isinstance(e, ExtError) else translated(e, "hello"))}]}
        return {"hosts": [{"host": HOST, "reachable": True}]}
