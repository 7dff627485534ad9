"""A deepagents sandbox backend on a sandboxer sandbox: deepagents' file tools
(ls, read_file, write_file, edit_file, glob, grep, delete) and its `execute`
tool work inside the sandbox.

deepagents' own `BaseSandbox` runs python3 scripts inside the sandbox for its
file tools; this backend uses sandboxer's file and tree API instead, so any
image works (a busybox one included): reads and writes are file calls, `ls` a
folder listing, `glob` and `grep` read the searched folder as one tar stream
and match here with deepagents' own glob rules (literal text, as its grep).

    from deepagents import create_deep_agent
    from sandboxer import Sandboxer
    from sandboxer.integrations.deepagents import SandboxerBackend

    with Sandboxer() as client, client.create("python") as box:
        agent = create_deep_agent(model=..., backend=SandboxerBackend(box))
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from datetime import datetime, timezone
from typing import Callable, Iterator

from deepagents.backends.protocol import (
    DeleteResult,
    EditResult,
    ExecuteResponse,
    FileData,
    FileDownloadResponse,
    FileInfo,
    FileUploadResponse,
    GlobResult,
    GrepMatch,
    GrepResult,
    LsResult,
    ReadResult,
    SandboxBackendProtocol,
    WriteResult,
)
from deepagents.backends.utils import (
    EMPTY_CONTENT_WARNING,
    compile_grep_include_glob,
    perform_string_replacement,
    slice_read_response,
)

from ..client import Sandbox
from ..errors import InvalidRequest, NotFound, SandboxerError

#: Folders grep does not search.
SKIPPED_FOLDERS = (".git",)


class SandboxerBackend(SandboxBackendProtocol):
    """deepagents' backend protocol over one sandboxer `Sandbox`. `root` is
    where `glob` and `grep` search when given no path."""

    def __init__(self, sandbox: Sandbox, *, root: str = "/workspace"):
        self.sandbox = sandbox
        self.root = root
        sandbox.mkdir(root)

    @property
    def id(self) -> str:
        return self.sandbox.id

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        ran = self.sandbox.exec(command, timeout_s=timeout)
        return ExecuteResponse(output=ran.stdout + ran.stderr, exit_code=ran.exit_code,
                               truncated=ran.truncated)

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        answers = []
        for path, content in files:
            try:
                self.sandbox.write_file(path, content)
                answers.append(FileUploadResponse(path=path))
            except SandboxerError as e:
                answers.append(FileUploadResponse(path=path, error=_file_error(e)))
        return answers

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        answers = []
        for path in paths:
            content, error = self._read(path)
            answers.append(FileDownloadResponse(path=path, content=content, error=error))
        return answers

    def ls(self, path: str) -> LsResult:
        try:
            entries = self.sandbox.list_files(path)
        except SandboxerError as e:
            return LsResult(error=f"Path '{path}': {_file_error(e)}")
        return LsResult(entries=[
            FileInfo(path=e.path, is_dir=e.kind == "dir", size=e.size,
                     modified_at=_iso(e.modified_unix))
            for e in entries
        ])

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        content, error = self._read(file_path)
        if error is not None:
            return ReadResult(error=f"File '{file_path}': {error}")
        if not content:
            return ReadResult(file_data=FileData(content=EMPTY_CONTENT_WARNING, encoding="utf-8"))
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return ReadResult(file_data=FileData(
                content=base64.b64encode(content).decode(), encoding="base64"))
        return slice_read_response(FileData(content=text, encoding="utf-8"), offset, limit)

    def write(self, file_path: str, content: str) -> WriteResult:
        try:
            self.sandbox.write_file(file_path, content)
        except SandboxerError as e:
            return WriteResult(error=f"File '{file_path}': {_file_error(e)}")
        return WriteResult(path=file_path)

    def edit(self, file_path: str, old_string: str, new_string: str,
             replace_all: bool = False) -> EditResult:
        content, error = self._read(file_path)
        if error is not None:
            return EditResult(error=f"File '{file_path}': {error}")
        replaced = perform_string_replacement(content.decode("utf-8", "replace"), old_string,
                                              new_string, replace_all)
        if isinstance(replaced, str):
            return EditResult(error=replaced)
        text, occurrences = replaced
        try:
            self.sandbox.write_file(file_path, text)
        except SandboxerError as e:
            return EditResult(error=f"File '{file_path}': {_file_error(e)}")
        return EditResult(path=file_path, occurrences=occurrences)

    def delete(self, file_path: str) -> DeleteResult:
        try:
            self.sandbox.remove(file_path, recursive=True)
        except SandboxerError as e:
            return DeleteResult(error=f"Path '{file_path}': {_file_error(e)}")
        return DeleteResult(path=file_path)

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:
        base = path or self.root
        try:
            matches = compile_grep_include_glob(pattern)
            found = [FileInfo(path=full, is_dir=False, size=size)
                     for full, rel, size, _ in self._files(base) if matches(rel)]
        except SandboxerError as e:
            return GlobResult(error=f"Path '{base}': {_file_error(e)}")
        except ValueError as e:
            return GlobResult(error=str(e))
        return GlobResult(matches=sorted(found, key=lambda f: f["path"]))

    def grep(self, pattern: str, path: str | None = None, glob: str | None = None, *,
             max_count: int | None = None) -> GrepResult:
        base = path or self.root
        try:
            included = compile_grep_include_glob(glob) if glob else (lambda _: True)
            hits: list[GrepMatch] = []
            for full, rel, _, read in self._files(base, skip=SKIPPED_FOLDERS):
                if not included(rel):
                    continue
                text = read().decode("utf-8", "replace")
                for number, line in enumerate(text.splitlines(), start=1):
                    if pattern in line:
                        hits.append(GrepMatch(path=full, line=number, text=line))
                        if max_count is not None and len(hits) >= max_count:
                            return GrepResult(matches=hits, truncated=True)
        except SandboxerError as e:
            return GrepResult(error=f"Path '{base}': {_file_error(e)}")
        except ValueError as e:
            return GrepResult(error=str(e))
        return GrepResult(matches=hits)

    def _read(self, path: str) -> tuple[bytes | None, str | None]:
        """A file's bytes, or deepagents' name for why not."""
        try:
            return self.sandbox.read_file(path), None
        except SandboxerError as e:
            error = _file_error(e)
            if error != "file_not_found":
                try:
                    if self.sandbox.stat(path).kind == "dir":
                        error = "is_directory"
                except SandboxerError:
                    pass
            return None, error

    def _files(self, base: str, skip: tuple[str, ...] = ()
               ) -> Iterator[tuple[str, str, int, Callable[[], bytes]]]:
        """Every regular file under `base` (a folder or one file), read as one
        tar stream: its absolute path, its path relative to `base`, its size,
        and how to read it."""
        tar = tarfile.open(fileobj=io.BytesIO(self.sandbox.tar(base)), mode="r")
        top = posixpath.basename(posixpath.normpath(base))
        for member in tar.getmembers():
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if parts[0] == top and len(parts) > 1:
                rel = "/".join(parts[1:])
                full = posixpath.join(base, rel)
            else:
                rel, full = member.name, base
            if any(part in skip for part in rel.split("/")[:-1]):
                continue
            yield full, rel, member.size, (lambda m=member: tar.extractfile(m).read())


def _file_error(e: SandboxerError) -> str:
    """deepagents' name of a file error."""
    if isinstance(e, NotFound):
        return "file_not_found"
    if isinstance(e, InvalidRequest):
        return "invalid_path"
    if "is a directory" in e.message.lower():
        return "is_directory"
    if "permission denied" in e.message.lower():
        return "permission_denied"
    return str(e)


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, tz=timezone.utc).isoformat()
