"""The synchronous client: `Sandboxer` (the daemon) and `Sandbox` (one
sandbox, a context manager that destroys it on exit)."""

from __future__ import annotations

import os
from typing import Any, Iterator

import httpx

from . import _calls
from .errors import from_answer
from .models import ExecResult, Exit, FileInfo, Output, SandboxRecord


class Sandboxer:
    """A sandboxer daemon, as the token's caller. `url` and `token` default to
    `SANDBOXER_URL` and `SANDBOXER_TOKEN`."""

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 timeout: float = 300.0, http: httpx.Client | None = None):
        url = url or os.environ.get("SANDBOXER_URL", "http://127.0.0.1:7070")
        token = token or os.environ.get("SANDBOXER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http or httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def __enter__(self) -> Sandboxer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _calls.Call) -> httpx.Response:
        response = self._http.request(call.method, call.path, params=call.params,
                                      json=call.json, content=call.content,
                                      headers=call.headers)
        if response.is_error:
            raise from_answer(response.status_code, response.content)
        return response

    def _json(self, call: _calls.Call) -> Any:
        return self._send(call).json()

    def profiles(self) -> list[dict[str, Any]]:
        """The profiles this caller may create from."""
        return self._json(_calls.Call("GET", "/v1/profiles"))

    def create(self, profile: str, *, ttl: str | None = None,
               labels: dict[str, str] | None = None, wait: bool = True,
               idempotency_key: str | None = None) -> Sandbox:
        """A new sandbox of `profile` (ready, unless `wait` is false). It is
        billed at the profile's rate until destroyed: use it as a context
        manager, or call `destroy`."""
        record = self._json(_calls.create(profile, ttl, labels, wait, idempotency_key))
        return Sandbox(self, SandboxRecord.from_json(record))

    def get(self, sandbox_id: str) -> Sandbox:
        record = self._json(_calls.Call("GET", _calls.sandbox_path(sandbox_id)))
        return Sandbox(self, SandboxRecord.from_json(record))

    def list(self, *, labels: dict[str, str] | None = None,
             states: list[str] | None = None, all: bool = False) -> list[SandboxRecord]:
        return [SandboxRecord.from_json(r) for r in self._json(_calls.listing(labels, states, all))]


class Sandbox:
    """One sandbox. As a context manager it is destroyed on exit."""

    def __init__(self, client: Sandboxer, record: SandboxRecord):
        self._client = client
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return f"Sandbox({self.id!r}, state={self.record.state!r})"

    def refresh(self) -> SandboxRecord:
        self.record = self._client.get(self.id).record
        return self.record

    def exec(self, command: str | list[str], *, stdin: str | None = None,
             timeout_s: int | None = None) -> ExecResult:
        """Runs `command` (a shell line, or an argv) to its end."""
        return ExecResult.from_json(
            self._client._json(_calls.exec_(self.id, command, stdin, timeout_s)))

    def stream(self, command: str | list[str], *, cwd: str | None = None,
               env: dict[str, str] | None = None,
               timeout_s: int | None = None) -> Iterator[Output | Exit]:
        """Starts `command` and yields its output as it is written, then its
        `Exit`."""
        started = self._client._json(_calls.start(self.id, command, cwd, env, timeout_s))
        call = _calls.output(self.id, started["exec_id"])
        reader = _calls.EventReader()
        with self._client._http.stream(call.method, call.path, timeout=None) as response:
            if response.is_error:
                raise from_answer(response.status_code, response.read())
            for line in response.iter_lines():
                event = reader.feed(line)
                if event is not None:
                    yield event
                    if isinstance(event, Exit):
                        return

    def read_file(self, path: str) -> bytes:
        return self._client._send(_calls.file(self.id, "GET", path)).content

    def write_file(self, path: str, data: bytes | str, *, mode: int | None = None) -> int:
        """Writes a file whole (folders above are made); answers its size."""
        content = data.encode() if isinstance(data, str) else data
        return self._client._json(_calls.file(self.id, "PUT", path, content, mode))["bytes"]

    def list_files(self, path: str) -> list[FileInfo]:
        entries = self._client._json(_calls.file(self.id, "GET", path, rest="/files/list"))
        return [FileInfo.from_json(e) for e in entries]

    def remove(self, path: str, *, recursive: bool = False) -> None:
        self._client._send(_calls.file(self.id, "DELETE", path, recursive=recursive))

    def stat(self, path: str) -> FileInfo:
        """What `path` is (a link is described itself)."""
        return FileInfo.from_json(
            self._client._json(_calls.file(self.id, "GET", path, rest="/files/stat")))

    def mkdir(self, path: str) -> None:
        """Makes folder `path` with its parents (`mkdir -p`)."""
        self._client._send(_calls.mkdir(self.id, path))

    def put_tar(self, folder: str, tar: bytes) -> int:
        """Unpacks tar archive `tar` into `folder` (made when missing); answers
        its bytes."""
        return self._client._json(_calls.file(self.id, "PUT", folder, tar, rest="/tree"))["bytes"]

    def tar(self, path: str) -> bytes:
        """A file or folder of the sandbox as a tar archive, under its own name."""
        return self._client._send(_calls.file(self.id, "GET", path, rest="/tree")).content

    def upload(self, local: str | os.PathLike[str], folder: str) -> int:
        """Copies a local file or folder into `folder` in the sandbox, under its
        own name; answers the tar stream's bytes."""
        return self.put_tar(folder, _calls.pack(local))

    def download(self, path: str, into: str | os.PathLike[str]) -> None:
        """Copies a file or folder of the sandbox into local folder `into`,
        under its own name, refusing any entry that would land elsewhere."""
        _calls.unpack(self.tar(path), into)

    def extend_ttl(self, by: str) -> SandboxRecord:
        call = _calls.Call("POST", _calls.sandbox_path(self.id, "/extend-ttl"), json={"by": by})
        self.record = SandboxRecord.from_json(self._client._json(call))
        return self.record

    def snapshot(self, name: str) -> dict[str, Any]:
        call = _calls.Call("POST", _calls.sandbox_path(self.id, "/snapshot"), json={"name": name})
        return self._client._json(call)

    def destroy(self) -> SandboxRecord:
        """Destroys it (destroying a destroyed sandbox succeeds)."""
        call = _calls.Call("DELETE", _calls.sandbox_path(self.id))
        self.record = SandboxRecord.from_json(self._client._json(call))
        return self.record
