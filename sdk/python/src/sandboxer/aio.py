"""The asynchronous client: `AsyncSandboxer` and `AsyncSandbox`, the same
verbs as `client` with `await`, `async with` (destroying on exit) and `async
for` over a command's output."""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator

import httpx

from . import _calls
from .errors import from_answer
from .models import ExecResult, Exit, FileInfo, Output, SandboxRecord


class AsyncSandboxer:
    """A sandboxer daemon, as the token's caller (`SANDBOXER_URL` and
    `SANDBOXER_TOKEN` by default)."""

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 timeout: float = 300.0, http: httpx.AsyncClient | None = None):
        url = url or os.environ.get("SANDBOXER_URL", "http://127.0.0.1:7070")
        token = token or os.environ.get("SANDBOXER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http or httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout)

    async def __aenter__(self) -> AsyncSandboxer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _calls.Call) -> httpx.Response:
        response = await self._http.request(call.method, call.path, params=call.params,
                                            json=call.json, content=call.content,
                                            headers=call.headers)
        if response.is_error:
            raise from_answer(response.status_code, response.content)
        return response

    async def _json(self, call: _calls.Call) -> Any:
        return (await self._send(call)).json()

    async def profiles(self) -> list[dict[str, Any]]:
        return await self._json(_calls.Call("GET", "/v1/profiles"))

    async def create(self, profile: str, *, ttl: str | None = None,
                     labels: dict[str, str] | None = None, wait: bool = True,
                     idempotency_key: str | None = None) -> AsyncSandbox:
        """A new sandbox of `profile`, billed until destroyed."""
        record = await self._json(_calls.create(profile, ttl, labels, wait, idempotency_key))
        return AsyncSandbox(self, SandboxRecord.from_json(record))

    async def get(self, sandbox_id: str) -> AsyncSandbox:
        record = await self._json(_calls.Call("GET", _calls.sandbox_path(sandbox_id)))
        return AsyncSandbox(self, SandboxRecord.from_json(record))

    async def list(self, *, labels: dict[str, str] | None = None,
                   states: list[str] | None = None, all: bool = False) -> list[SandboxRecord]:
        answer = await self._json(_calls.listing(labels, states, all))
        return [SandboxRecord.from_json(r) for r in answer]


class AsyncSandbox:
    """One sandbox. `async with` destroys it on exit."""

    def __init__(self, client: AsyncSandboxer, record: SandboxRecord):
        self._client = client
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.destroy()

    def __repr__(self) -> str:
        return f"AsyncSandbox({self.id!r}, state={self.record.state!r})"

    async def exec(self, command: str | list[str], *, stdin: str | None = None,
                   timeout_s: int | None = None) -> ExecResult:
        answer = await self._client._json(_calls.exec_(self.id, command, stdin, timeout_s))
        return ExecResult.from_json(answer)

    async def stream(self, command: str | list[str], *, cwd: str | None = None,
                     env: dict[str, str] | None = None,
                     timeout_s: int | None = None) -> AsyncIterator[Output | Exit]:
        """Starts `command` and yields its output as it is written, then its
        `Exit`."""
        started = await self._client._json(_calls.start(self.id, command, cwd, env, timeout_s))
        call = _calls.output(self.id, started["exec_id"])
        reader = _calls.EventReader()
        async with self._client._http.stream(call.method, call.path, timeout=None) as response:
            if response.is_error:
                raise from_answer(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                event = reader.feed(line)
                if event is not None:
                    yield event
                    if isinstance(event, Exit):
                        return

    async def read_file(self, path: str) -> bytes:
        return (await self._client._send(_calls.file(self.id, "GET", path))).content

    async def write_file(self, path: str, data: bytes | str, *, mode: int | None = None) -> int:
        content = data.encode() if isinstance(data, str) else data
        answer = await self._client._json(_calls.file(self.id, "PUT", path, content, mode))
        return answer["bytes"]

    async def list_files(self, path: str) -> list[FileInfo]:
        entries = await self._client._json(_calls.file(self.id, "GET", path, rest="/files/list"))
        return [FileInfo.from_json(e) for e in entries]

    async def remove(self, path: str, *, recursive: bool = False) -> None:
        await self._client._send(_calls.file(self.id, "DELETE", path, recursive=recursive))

    async def stat(self, path: str) -> FileInfo:
        answer = await self._client._json(_calls.file(self.id, "GET", path, rest="/files/stat"))
        return FileInfo.from_json(answer)

    async def mkdir(self, path: str) -> None:
        await self._client._send(_calls.mkdir(self.id, path))

    async def put_tar(self, folder: str, tar: bytes) -> int:
        answer = await self._client._json(_calls.file(self.id, "PUT", folder, tar, rest="/tree"))
        return answer["bytes"]

    async def tar(self, path: str) -> bytes:
        return (await self._client._send(_calls.file(self.id, "GET", path, rest="/tree"))).content

    async def upload(self, local: str | os.PathLike[str], folder: str) -> int:
        return await self.put_tar(folder, await asyncio.to_thread(_calls.pack, local))

    async def download(self, path: str, into: str | os.PathLike[str]) -> None:
        await asyncio.to_thread(_calls.unpack, await self.tar(path), into)

    async def extend_ttl(self, by: str) -> SandboxRecord:
        call = _calls.Call("POST", _calls.sandbox_path(self.id, "/extend-ttl"), json={"by": by})
        self.record = SandboxRecord.from_json(await self._client._json(call))
        return self.record

    async def snapshot(self, name: str) -> dict[str, Any]:
        call = _calls.Call("POST", _calls.sandbox_path(self.id, "/snapshot"), json={"name": name})
        return await self._client._json(call)

    async def destroy(self) -> SandboxRecord:
        call = _calls.Call("DELETE", _calls.sandbox_path(self.id))
        self.record = SandboxRecord.from_json(await self._client._json(call))
        return self.record
