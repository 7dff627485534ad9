"""sandboxer_ext: write a sandboxer extension in Python.

The protocol (`docs/protocol.md`) as a small library on the standard library
alone, the Python counterpart of the Rust SDK (`ext-protocol/src/sdk`): JSON-RPC
2.0 over stdio, one message per line; the handshake with its option checks; each
request served on a thread of its own; cancellation; `shutdown`, EOF and
SIGTERM as the protocol orders them; errors with their kinds. An extension
subclasses `Extension` and calls `serve`.
"""

from .errors import (
    Cancelled,
    ExtError,
    already_exists,
    deadline_exceeded,
    failed_precondition,
    internal,
    invalid_argument,
    not_found,
    permission_denied,
    resource_exhausted,
    unavailable,
)
from .params import Params
from .server import PROTOCOL_VERSION, Call, Extension, serve

__all__ = [
    "PROTOCOL_VERSION",
    "Call",
    "Cancelled",
    "ExtError",
    "Extension",
    "Params",
    "already_exists",
    "deadline_exceeded",
    "failed_precondition",
    "internal",
    "invalid_argument",
    "not_found",
    "permission_denied",
    "resource_exhausted",
    "serve",
    "unavailable",
]
