"""What both clients share: each verb as the HTTP call the daemon's API takes
(`Call`), the reading of a command's Server-Sent Events, and trees packed to
and unpacked from tar. The sync and async clients only send the calls."""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import quote

from .errors import BackendError
from .models import Exit, Output, stream_event


@dataclass
class Call:
    """One request: method, path, query, JSON or raw body, headers."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def sandbox_path(sandbox_id: str, rest: str = "") -> str:
    return f"/v1/sandboxes/{quote(sandbox_id, safe='')}{rest}"


def create(profile: str, ttl: str | None, labels: dict[str, str] | None, wait: bool,
           idempotency_key: str | None) -> Call:
    body: dict[str, Any] = {"profile": profile, "wait": wait}
    if ttl is not None:
        body["ttl"] = ttl
    if labels:
        body["labels"] = labels
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", "/v1/sandboxes", json=body, headers=headers)


def listing(labels: dict[str, str] | None, states: Iterable[str] | None, all: bool) -> Call:
    params = [("label", f"{k}={v}") for k, v in (labels or {}).items()]
    if states:
        params.append(("state", ",".join(states)))
    if all:
        params.append(("all", "true"))
    return Call("GET", "/v1/sandboxes", params=params)


def argv_of(command: str | list[str]) -> list[str]:
    """A shell line runs under `sh -c`; a list runs as it is."""
    return ["sh", "-c", command] if isinstance(command, str) else list(command)


def exec_(sandbox_id: str, command: str | list[str], stdin: str | None,
          timeout_s: int | None) -> Call:
    body: dict[str, Any] = {"argv": argv_of(command)}
    if stdin is not None:
        body["stdin"] = stdin
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return Call("POST", sandbox_path(sandbox_id, "/exec"), json=body)


def start(sandbox_id: str, command: str | list[str], cwd: str | None,
          env: dict[str, str] | None, timeout_s: int | None) -> Call:
    body: dict[str, Any] = {"argv": argv_of(command)}
    if cwd is not None:
        body["cwd"] = cwd
    if env:
        body["env"] = env
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return Call("POST", sandbox_path(sandbox_id, "/commands"), json=body)


def output(sandbox_id: str, exec_id: str) -> Call:
    return Call("GET", sandbox_path(sandbox_id, f"/commands/{quote(exec_id, safe='')}/output"))


def file(sandbox_id: str, method: str, path: str, content: bytes | None = None,
         mode: int | None = None, rest: str = "/files", recursive: bool = False) -> Call:
    params = [("path", path)]
    if mode is not None:
        params.append(("mode", format(mode, "o")))
    if recursive:
        params.append(("recursive", "true"))
    return Call(method, sandbox_path(sandbox_id, rest), params=params, content=content)


def mkdir(sandbox_id: str, path: str) -> Call:
    return Call("POST", sandbox_path(sandbox_id, "/files/mkdir"),
                json={"path": path, "parents": True})


class EventReader:
    """Server-Sent Events of a command's output, fed line by line: each
    complete event becomes an `Output` or the final `Exit`."""

    def __init__(self) -> None:
        self._name = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> Output | Exit | None:
        if line == "":
            name, data = self._name, "\n".join(self._data)
            self._name, self._data = "message", []
            if not data:
                return None
            if name == "error":
                raise BackendError(json.loads(data).get("message", data))
            return stream_event(json.loads(data))
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            self._name = value
        elif key == "data":
            self._data.append(value)
        return None


def pack(local: str | os.PathLike[str]) -> bytes:
    """A file or folder as a tar archive, under its own name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(os.fspath(local), arcname=os.path.basename(os.path.normpath(local)))
    return buffer.getvalue()


def unpack(tar_bytes: bytes, into: str | os.PathLike[str]) -> None:
    """Unpacks a tar archive that came out of a sandbox into `into`, and only
    there: an entry that would land elsewhere (`..`, an absolute path, a link
    out) refuses the whole archive (the `data` filter)."""
    os.makedirs(into, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r") as tar:
        members = tar.getmembers()
        for member in members:
            _confined(member, os.path.realpath(into))
        tar.extractall(into, members=members, **_FILTER)


def _confined(member: tarfile.TarInfo, root: str) -> None:
    """Refuses an entry that would land outside `root`, itself or by a link."""
    if hasattr(tarfile, "data_filter"):
        tarfile.data_filter(member, root)
        return
    # Pythons without extraction filters: the same rules, by hand.
    def inside(path: str) -> bool:
        return os.path.commonpath([root, os.path.realpath(path)]) == root

    target = os.path.join(root, member.name)
    if os.path.isabs(member.name) or not inside(target):
        raise ValueError(f"{member.name} leaves {root}")
    if member.issym() or member.islnk():
        base = os.path.dirname(target) if member.issym() else root
        if os.path.isabs(member.linkname) or not inside(os.path.join(base, member.linkname)):
            raise ValueError(f"{member.name} links outside {root}")


_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
