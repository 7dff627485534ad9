"""A local stand-in for Daytona's API, for tests only: never a Daytona.

Written from the official `daytona` client's behaviour (0.226; see
`workplans/19-daytona-facts.md`), it serves the control plane under `/api`
and the toolbox (in-sandbox API) under `/toolbox/{id}`, backed by a real
`sandboxer serve`: a Daytona sandbox is a sandboxer sandbox of the profile
named by its `snapshot`, and every in-sandbox call is a command or file call
of the daemon. The client's API key is passed on as the daemon token, so keys
are tokens, as for the daemon's own E2B API.

    python server.py --port P --sandboxer http://127.0.0.1:D [--public-url URL]

Prints `listening on http://127.0.0.1:P` when ready.
"""

import argparse
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "sdk/python/src"))

import httpx  # noqa: E402  (the SDK's own transport)
from sandboxer import Sandboxer  # noqa: E402
from sandboxer.errors import SandboxerError  # noqa: E402
from sandboxer.models import Exit, Output  # noqa: E402

LABEL_PREFIX = "daytona."
DEFAULTS = {"cpu": 1, "gpu": 0, "memory": 1, "disk": 3}


class State:
    """What the stand-in keeps of each sandbox that sandboxer does not: the
    Daytona fields a caller set (memory only)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.extra = {}
        # Names are unique (as Daytona's are within an organisation): a
        # create holds this while it looks for the name and makes it.
        self.naming = threading.Lock()
        # A test's fault for creates: `{"status": 429|5xx, "retry_after": s}`
        # answers every create so until it is cleared (PUT /_standin/faults).
        self.create_fault = None

    def set(self, sandbox_id, **fields):
        with self.lock:
            self.extra.setdefault(sandbox_id, {}).update(fields)

    def get(self, sandbox_id):
        with self.lock:
            return dict(self.extra.get(sandbox_id, {}))


STATE = State()


def state_of(sandboxer_state):
    return {
        "pending": "creating",
        "provisioning": "creating",
        "ready": "started",
        "active": "started",
        "paused": "stopped",
        "destroying": "destroying",
        "destroyed": "destroyed",
        "expired": "destroying",
        "failed": "error",
    }.get(sandboxer_state, "unknown")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "daytona-standin"

    def log_message(self, *args):
        pass

    # ---- plumbing ----

    def client(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Refused(401, "missing Authorization: Bearer")
        return Sandboxer(self.server.sandboxer_url, header[len("Bearer "):])

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, payload=None, content_type="application/json"):
        data = b""
        if payload is not None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, code="ERROR"):
        self.send(status, {"statusCode": status, "source": "DAYTONA_API", "code": code,
                           "message": message, "error": message, "path": self.path,
                           "timestamp": "1970-01-01T00:00:00Z", "method": self.command})

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts == ["_standin", "faults"] and self.command == "PUT":
                return self.faults()
            if parts[:1] == ["api"]:
                return self.control(parts[1:])
            if parts[:1] == ["toolbox"] and len(parts) >= 3:
                return self.toolbox(parts[1], parts[2:])
            raise Refused(404, f"no route {self.command} {url.path}")
        except Refused as e:
            self.error(e.status, e.message, e.code)
        except SandboxerError as e:
            status = getattr(e, "status", 500) or 500
            self.error(status, str(e), "SANDBOX_NOT_FOUND" if status == 404 else "ERROR")

    do_GET = do_POST = do_PUT = do_DELETE = route

    # ---- control plane ----

    def sandbox_json(self, record):
        """A sandboxer record as Daytona's sandbox object."""
        raw = record.raw
        extra = STATE.get(record.id)
        labels = {k[len(LABEL_PREFIX):]: v for k, v in (raw.get("labels") or {}).items()
                  if k.startswith(LABEL_PREFIX)}
        resources = raw.get("resources") or {}
        answer = {
            "id": record.id, "organizationId": "standin", "name": labels.get("name", record.id),
            "user": "root", "env": extra.get("env", {}), "labels": labels, "public": False,
            "networkBlockAll": extra.get("networkBlockAll", False), "kvm": False,
            "target": "local",
            "cpu": int(resources.get("cpus") or DEFAULTS["cpu"]), "gpu": 0,
            "memory": max(1, int((resources.get("memory_mb") or 1024) / 1024)),
            "disk": max(1, int((resources.get("disk_mb") or 3072) / 1024)),
            "state": state_of(raw.get("state")), "snapshot": raw.get("profile_id", ""),
            "autoStopInterval": extra.get("autoStopInterval", 15),
            "toolboxProxyUrl": f"{self.server.public_url}/toolbox",
            "createdAt": raw.get("created_at"), "updatedAt": raw.get("updated_at"),
        }
        for key in ("networkAllowList", "domainAllowList"):
            if extra.get(key):
                answer[key] = extra[key]
        return answer

    def control(self, parts):
        if parts == ["health"] and self.command == "GET":
            return self.send(200)
        client = self.client()
        if parts == ["sandbox"] and self.command == "POST":
            fault = STATE.create_fault
            if fault:
                return self.refuse_create(fault)
            request = json.loads(self.body() or b"{}")
            if request.get("buildInfo"):
                raise Refused(400, "the stand-in builds no images: name a snapshot (a profile)")
            labels = {LABEL_PREFIX + k: v for k, v in (request.get("labels") or {}).items()}
            if request.get("name"):
                labels[LABEL_PREFIX + "name"] = request["name"]
            ttl = f"{request['ttlMinutes']}m" if request.get("ttlMinutes") else None
            with STATE.naming:
                if request.get("name") and named(client, request["name"]):
                    raise Refused(409, f"sandbox with name {request['name']} already exists",
                                  "CONFLICT")
                sandbox = client.create(request.get("snapshot") or "default", labels=labels,
                                        ttl=ttl)
            # Kept and answered, not enforced: the daemon's profile decides the network.
            STATE.set(sandbox.id, env=request.get("env") or {},
                      autoStopInterval=request.get("autoStopInterval", 15),
                      networkBlockAll=bool(request.get("networkBlockAll")),
                      networkAllowList=request.get("networkAllowList"),
                      domainAllowList=request.get("domainAllowList"))
            return self.send(200, self.sandbox_json(sandbox.refresh()))
        if parts == ["sandbox"] and self.command == "GET":
            wanted = json.loads(self.query.get("labels", ["{}"])[0])
            filters = {LABEL_PREFIX + k: v for k, v in wanted.items()}
            items = []
            for record in client.list(labels=filters):
                item = self.sandbox_json(record)
                item.pop("env")
                item.pop("kvm")
                items.append(item)
            return self.send(200, {"items": items, "nextCursor": None})
        if len(parts) >= 2 and parts[0] == "sandbox":
            sandbox = find(client, parts[1])
            rest = parts[2:]
            if not rest and self.command == "GET":
                return self.send(200, self.sandbox_json(sandbox.record))
            if not rest and self.command == "DELETE":
                sandbox.destroy()
                return self.send(204)
            if rest == ["labels"] and self.command == "PUT":
                raise Refused(501, "the stand-in does not replace labels")
            if rest[:1] == ["autostop"] and self.command == "POST":
                STATE.set(sandbox.id, autoStopInterval=int(rest[1]))
                return self.send(200, self.sandbox_json(sandbox.record))
            if len(rest) == 2 and rest[0] == "ttl" and self.command == "POST":
                return self.set_ttl(client, sandbox, int(rest[1]))
            if rest == ["toolbox-proxy-url"]:
                return self.send(200, {"url": f"{self.server.public_url}/toolbox"})
        raise Refused(404, f"the stand-in does not serve {self.command} /api/{'/'.join(parts)}")

    def set_ttl(self, client, sandbox, minutes):
        """Daytona's TTL: deleted `minutes` from now (0: never). sandboxer only
        moves an expiry later, so a shorter or no TTL keeps the one it has."""
        self.body()
        STATE.set(sandbox.id, ttlMinutes=minutes)
        if minutes > 0:
            wanted = time.time() + minutes * 60
            later = int(wanted - sandbox.refresh().expires_at.timestamp())
            if later > 0:
                sandbox.extend_ttl(f"{later}s")
        return self.send(200, self.sandbox_json(sandbox.refresh()))

    def refuse_create(self, fault):
        """A create answered as a busy or failing Daytona would."""
        status = int(fault["status"])
        message = ("rate limit exceeded" if status == 429
                   else "the stand-in is told to fail creates")
        self.body()
        payload = json.dumps({"statusCode": status, "message": message,
                              "error": message}).encode()
        self.send_response(status)
        if fault.get("retry_after") is not None:
            self.send_header("Retry-After", str(fault["retry_after"]))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def faults(self):
        """The test's switch: `PUT /_standin/faults {"create": …|null}`."""
        STATE.create_fault = json.loads(self.body() or b"{}").get("create")
        self.send(204)

    # ---- toolbox ----

    def toolbox(self, sandbox_id, parts):
        sandbox = find(self.client(), sandbox_id)
        if parts == ["process", "execute"] and self.command == "POST":
            request = json.loads(self.body() or b"{}")
            env = dict(STATE.get(sandbox_id).get("env", {}))
            env.update(request.get("envs") or {})
            output, end = b"", None
            for event in sandbox.stream(request["command"], cwd=request.get("cwd"), env=env,
                                        timeout_s=request.get("timeout") or None):
                if isinstance(event, Output):
                    output += event.data
                elif isinstance(event, Exit):
                    end = event
            if end is not None and end.timed_out:
                # Daytona's toolbox answers a command past its timeout with 408.
                raise Refused(408, "command execution timeout", "PROCESS_EXECUTION_TIMEOUT")
            return self.send(200, {"exitCode": end.exit_code if end else None,
                                   "result": output.decode(errors="replace")})
        if parts == ["files", "bulk-upload"] and self.command == "POST":
            return self.upload(sandbox)
        if parts == ["files", "bulk-download"] and self.command == "POST":
            return self.download(sandbox, json.loads(self.body())["paths"])
        path = self.query.get("path", [""])[0]
        if parts == ["files"] and self.command == "GET":
            return self.send(200, [file_info(f) for f in sandbox.list_files(path)])
        if parts == ["files", "info"]:
            return self.send(200, file_info(sandbox.stat(path)))
        if parts == ["files", "folder"] and self.command == "POST":
            sandbox.mkdir(path)
            return self.send(201)
        if parts == ["files", "move"] and self.command == "POST":
            source = self.query.get("source", [""])[0]
            destination = self.query.get("destination", [""])[0]
            answer = httpx.post(
                f"{self.server.sandboxer_url}/v1/sandboxes/{sandbox.id}/files/rename",
                headers={"Authorization": self.headers["Authorization"]},
                json={"from": source, "to": destination})
            if answer.is_error:
                raise Refused(answer.status_code, answer.text)
            return self.send(200)
        if parts == ["files"] and self.command == "DELETE":
            sandbox.remove(path, recursive=self.query.get("recursive", ["false"])[0] == "true")
            return self.send(204)
        raise Refused(404, f"the stand-in does not serve {self.command} toolbox/{'/'.join(parts)}")

    def upload(self, sandbox):
        content_type = self.headers.get("Content-Type", "")
        boundary = content_type.split("boundary=")[1].strip('"').encode()
        fields = {}
        for part in self.body().split(b"--" + boundary):
            head, _, data = part.partition(b"\r\n\r\n")
            if b"name=\"" not in head:
                continue
            name = head.split(b"name=\"")[1].split(b"\"")[0].decode()
            fields[name] = data[:-2] if data.endswith(b"\r\n") else data
        index = 0
        while f"files[{index}].path" in fields:
            target = fields[f"files[{index}].path"].decode()
            sandbox.write_file(target, fields[f"files[{index}].file"])
            index += 1
        return self.send(200, {})

    def download(self, sandbox, paths):
        boundary = "standinboundary"
        out = b""
        for path in paths:
            try:
                data = sandbox.read_file(path)
                head = (f'Content-Disposition: form-data; name="file"; filename="{path}"\r\n'
                        "Content-Type: application/octet-stream\r\n\r\n")
            except SandboxerError as e:
                data = json.dumps({"message": str(e), "statusCode": 404,
                                   "code": "FILE_NOT_FOUND", "source": "DAYTONA_DAEMON"}).encode()
                head = (f'Content-Disposition: form-data; name="error"; filename="{path}"\r\n'
                        "Content-Type: application/json\r\n\r\n")
            out += f"--{boundary}\r\n".encode() + head.encode() + data + b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        self.send(200, out, f"multipart/form-data; boundary={boundary}")


def find(client, id_or_name):
    """A sandbox by its id, else by its Daytona name (404 when neither)."""
    try:
        return client.get(id_or_name)
    except SandboxerError as e:
        if getattr(e, "status", 0) not in (400, 404):
            raise
    found = named(client, id_or_name)
    if not found:
        raise Refused(404, f"Sandbox with ID or name {id_or_name} not found", "SANDBOX_NOT_FOUND")
    return client.get(found[0].id)


def named(client, name):
    """The live sandboxes named `name`."""
    return [r for r in client.list(labels={LABEL_PREFIX + "name": name})
            if r.raw.get("state") not in ("destroyed", "destroying", "failed")]


def file_info(f):
    """sandboxer's facts of a path as the toolbox's `FileInfo`."""
    bits = f.mode & 0o777
    letters = "".join(c if bits & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return {"name": f.name, "isDir": f.kind == "dir", "size": f.size,
            "mode": ("d" if f.kind == "dir" else "-") + letters,
            "modTime": str(f.modified_unix), "permissions": format(bits, "04o"),
            "owner": "", "group": "", "path": f.path}


class Refused(Exception):
    def __init__(self, status, message, code="ERROR"):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sandboxer", required=True)
    parser.add_argument("--public-url", help="how clients reach it (default: its own address)")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.sandboxer_url = args.sandboxer
    server.public_url = (args.public_url or f"http://127.0.0.1:{server.server_port}").rstrip("/")
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
