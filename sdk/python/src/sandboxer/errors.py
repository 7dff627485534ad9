"""Errors as exceptions: every answer of the daemon that is not a success
raises the `SandboxerError` subclass of its stable code (the daemon's
`{"error": {"code", "message"}}`), the message saying what to do."""

from __future__ import annotations


class SandboxerError(Exception):
    """A call the daemon refused or could not do."""

    code = "internal"

    def __init__(self, message: str, *, status: int = 0, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Unauthorized(SandboxerError):
    code = "unauthorized"


class Forbidden(SandboxerError):
    code = "forbidden"


class InvalidRequest(SandboxerError):
    code = "invalid_request"


class NotFound(SandboxerError):
    code = "not_found"


class Conflict(SandboxerError):
    code = "conflict"


class IdempotencyMismatch(Conflict):
    code = "idempotency_mismatch"


class Unsupported(SandboxerError):
    code = "unsupported"


class BackendUnavailable(SandboxerError):
    code = "backend_unavailable"


class BackendError(SandboxerError):
    code = "backend_error"


_BY_CODE = {
    cls.code: cls
    for cls in (
        Unauthorized,
        Forbidden,
        InvalidRequest,
        NotFound,
        Conflict,
        IdempotencyMismatch,
        Unsupported,
        BackendUnavailable,
        BackendError,
    )
}


def from_answer(status: int, body: bytes) -> SandboxerError:
    """The exception for a failed answer: by its code, else by its status."""
    import json

    code, message = None, body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    try:
        error = json.loads(body)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        pass
    if code is None:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(
            status, "invalid_request" if 400 <= status < 500 else "backend_error"
        )
    cls = _BY_CODE.get(code, SandboxerError)
    return cls(message, status=status, code=code)
