"""Serving the protocol over stdio: framing, the handshake, dispatch, and the
ends of a session (docs/protocol.md §2, §3, §7).

stdout carries protocol lines and nothing else: at start the process's own
stdout is kept for them and file descriptor 1 is pointed at stderr, so a stray
`print` or a library's write lands in the log, never on the wire.
"""

import json
import os
import signal
import sys
import threading
import time
import traceback

from .errors import Cancelled, ExtError, invalid_argument
from .params import BadParams, Params

PROTOCOL_VERSION = "1.6"
MAX_LINE = 8 * 1024 * 1024
REQUIRED_METHODS = ["initialize", "shutdown", "sandbox/create", "sandbox/get",
                    "sandbox/list", "sandbox/destroy"]
DRAIN_SECONDS = 1.0


class Extension:
    """What an extension says of itself and serves. Subclasses set `name`,
    `version`, `features` and `options_schema` (`{name: {description,
    required, secret, default?}}`), and implement `start` and `handlers`."""

    name = "unnamed"
    version = "0.1.0"
    features: list = []
    options_schema: dict = {}

    def start(self, options):
        """Takes the handshake's options (already checked against the schema)."""

    def handlers(self):
        """`{method: fn(params: Params, call: Call) -> result}`: the four
        required sandbox methods and every optional one served."""
        raise NotImplementedError


class Call:
    """One request in flight: its id and whether the host cancelled it."""

    def __init__(self, request_id):
        self.id = request_id
        self.cancelled = threading.Event()
        self._on_cancel = []
        self._lock = threading.Lock()

    def on_cancel(self, callback):
        """Runs `callback` when the host cancels this call (at once if it has)."""
        with self._lock:
            if not self.cancelled.is_set():
                self._on_cancel.append(callback)
                return
        callback()

    def cancel(self):
        with self._lock:
            self.cancelled.set()
            callbacks, self._on_cancel = self._on_cancel, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a cancel must not kill the reader
                traceback.print_exc(file=sys.stderr)

    def check(self):
        if self.cancelled.is_set():
            raise Cancelled()


def valid_id(value):
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


class Session:
    def __init__(self, extension, out):
        self.extension = extension
        self.out = out
        self.write_lock = threading.Lock()
        self.calls = {}
        self.calls_lock = threading.Lock()
        self.initialized = False
        self.shutting_down = False
        self.handlers = {}

    # ---- writing ----

    def send(self, message):
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        with self.write_lock:
            self.out.write(line)
            self.out.flush()

    def answer(self, request_id, result):
        self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def fail(self, request_id, code, message, data=None):
        error = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self.send({"jsonrpc": "2.0", "id": request_id, "error": error})

    # ---- reading ----

    def run(self, stdin):
        while True:
            line = stdin.readline(MAX_LINE + 1)
            if not line:
                self.end()
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                # Refused unread: the rest of the line is skipped.
                while line and not line.endswith(b"\n"):
                    line = stdin.readline(1 << 20)
                self.fail(None, -32600, f"a line over {MAX_LINE} bytes is refused")
                continue
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                self.fail(None, -32700, "parse error: not JSON")
                continue
            self.take(message)

    def take(self, message):
        if isinstance(message, list):
            self.fail(None, -32600, "batches are not served")
            return
        if not isinstance(message, dict):
            self.fail(None, -32600, "a message is a JSON object")
            return
        has_id = "id" in message
        request_id = message.get("id")
        if has_id and not valid_id(request_id):
            self.fail(None, -32600, "an id is a string or a number")
            return
        method = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            if has_id:
                self.fail(request_id, -32600, "not a JSON-RPC 2.0 request")
            else:
                self.fail(None, -32600, "not a JSON-RPC 2.0 request")
            return
        if not has_id:
            self.notification(method, message.get("params"))
            return
        self.request(request_id, method, message.get("params"))

    def notification(self, method, params):
        if method == "exit":
            self.end()
        if method == "$/cancelRequest" and isinstance(params, dict):
            with self.calls_lock:
                call = self.calls.get(json.dumps(params.get("id")))
            if call is not None:
                call.cancel()

    def request(self, request_id, method, params):
        if self.shutting_down:
            self.fail(request_id, -32600, "the extension is shutting down")
            return
        if method == "initialize":
            if self.initialized:
                self.fail(request_id, -32600, "initialize was already answered")
                return
            self.initialize(request_id, params)
            return
        if not self.initialized:
            self.fail(request_id, -32002, "not initialized: initialize first")
            return
        if method == "shutdown":
            self.shutting_down = True
            threading.Thread(target=self.shutdown, args=(request_id,), daemon=True).start()
            return
        handler = self.handlers.get(method)
        if handler is None:
            self.fail(request_id, -32601, f"method not found: {method}")
            return
        call = Call(request_id)
        with self.calls_lock:
            self.calls[json.dumps(request_id)] = call
        worker = threading.Thread(target=self.serve_call, args=(call, handler, params),
                                  daemon=True)
        worker.start()

    def serve_call(self, call, handler, params):
        try:
            result = handler(Params(params), call)
            call.check()
            self.answer(call.id, result)
        except Cancelled:
            self.fail(call.id, -32800, "cancelled")
        except ExtError as e:
            error = e.to_json()
            self.fail(call.id, error["code"], error["message"], error["data"])
        except BadParams as e:
            self.fail(call.id, -32602, f"invalid params: {e}")
        except Exception as e:  # noqa: BLE001 - every call gets an answer
            traceback.print_exc(file=sys.stderr)
            self.fail(call.id, -32603, f"internal error: {type(e).__name__}")
        finally:
            with self.calls_lock:
                self.calls.pop(json.dumps(call.id), None)

    # ---- the handshake ----

    def initialize(self, request_id, params):
        if not isinstance(params, dict):
            self.fail(request_id, -32602, "initialize takes an object")
            return
        version = params.get("protocol_version")
        major = str(version).split(".")[0] if isinstance(version, str) else None
        if major != "1" or len(str(version).split(".")) != 2:
            self.fail(request_id, -32602, f"protocol version {version!r} is not spoken here",
                      {"supported": [PROTOCOL_VERSION]})
            return
        options = params.get("options") or {}
        if not isinstance(options, dict):
            self.fail(request_id, -32602, "options must be an object")
            return
        schema = self.extension.options_schema
        try:
            for name in options:
                if name not in schema:
                    raise invalid_argument(
                        f"options.{name}",
                        f"unknown option {name}; this extension takes: {', '.join(sorted(schema))}")
            for name, spec in schema.items():
                if spec.get("required") and options.get(name) is None:
                    raise invalid_argument(f"options.{name}", f"option {name} is required")
            merged = {name: spec["default"] for name, spec in schema.items() if "default" in spec}
            merged.update(options)
            self.extension.start(merged)
            self.handlers = dict(self.extension.handlers())
        except ExtError as e:
            error = e.to_json()
            self.fail(request_id, error["code"], error["message"], error["data"])
            return
        except Exception as e:  # noqa: BLE001 - an option the extension cannot use
            traceback.print_exc(file=sys.stderr)
            error = invalid_argument("options", f"the options cannot be used: "
                                                f"{type(e).__name__}: {e}").to_json()
            self.fail(request_id, error["code"], error["message"], error["data"])
            return
        methods = list(REQUIRED_METHODS)
        methods += [m for m in self.handlers if m not in methods]
        self.initialized = True
        self.answer(request_id, {
            "protocol_version": PROTOCOL_VERSION,
            "extension": {"name": self.extension.name, "version": self.extension.version},
            "capabilities": {"methods": methods, "features": list(self.extension.features)},
            "options_schema": {
                name: {"description": spec.get("description", ""),
                       "required": bool(spec.get("required")),
                       "secret": bool(spec.get("secret")),
                       **({"default": spec["default"]} if "default" in spec else {})}
                for name, spec in schema.items()},
        })

    # ---- ending ----

    def in_flight(self):
        with self.calls_lock:
            return len(self.calls)

    def shutdown(self, request_id):
        while self.in_flight():
            time.sleep(0.02)
        self.answer(request_id, None)

    def end(self):
        """EOF, `exit` or SIGTERM: calls in flight get about a second, then the
        process exits 0."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            self.out.flush()
        finally:
            os._exit(0)


def serve(extension):
    """Serves `extension` on stdin/stdout until the session ends. Started by
    sandboxer with `--stdio`; anything else is a usage error."""
    if "--stdio" not in sys.argv[1:]:
        print(f"sandboxer-ext-{extension.name} is started by sandboxer with --stdio",
              file=sys.stderr)
        sys.exit(2)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    session = Session(extension, out)
    # Ended from a thread of its own: the handler runs on the reading thread,
    # which may hold a lock `end` takes.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=session.end).start())
    session.run(sys.stdin.buffer)
