"""sandboxer's Python client: sandboxes from profiles through a sandboxer
daemon, commands (streamed as they run), files and trees, as the caller a
token names. `Sandboxer` is synchronous, `AsyncSandboxer` asynchronous; errors
are `SandboxerError`s carrying the API's stable code."""

from .aio import AsyncSandbox, AsyncSandboxer
from .client import Sandbox, Sandboxer
from .errors import (
    BackendError,
    BackendUnavailable,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InvalidRequest,
    NotFound,
    SandboxerError,
    Unauthorized,
    Unsupported,
)
from .models import Endpoint, ExecResult, Exit, FileInfo, Output, SandboxRecord, Usage

__all__ = [
    "AsyncSandbox",
    "AsyncSandboxer",
    "BackendError",
    "BackendUnavailable",
    "Conflict",
    "Endpoint",
    "ExecResult",
    "Exit",
    "FileInfo",
    "Forbidden",
    "IdempotencyMismatch",
    "InvalidRequest",
    "NotFound",
    "Output",
    "Sandbox",
    "SandboxRecord",
    "Sandboxer",
    "SandboxerError",
    "Unauthorized",
    "Unsupported",
    "Usage",
]
