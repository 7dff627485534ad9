"""The protocol's domain errors (1000–1999), each with its kind and whether a
retry may help (docs/protocol.md §6)."""

KINDS = {
    "NotFound": (1001, False),
    "AlreadyExists": (1002, False),
    "InvalidArgument": (1003, False),
    "FailedPrecondition": (1004, False),
    "ResourceExhausted": (1005, True),
    "Unavailable": (1006, True),
    "Unimplemented": (1007, False),
    "DeadlineExceeded": (1008, True),
    "PermissionDenied": (1009, False),
    "Internal": (1010, False),
}


class ExtError(Exception):
    """A domain error: answered as `{code, message, data: {kind, retryable,
    details?}}`. `field` (a dotted path) names what an InvalidArgument is about."""

    def __init__(self, kind, message, field=None):
        super().__init__(message)
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind}")
        self.kind = kind
        self.message = message
        self.field = field

    def to_json(self):
        code, retryable = KINDS[self.kind]
        data = {"kind": self.kind, "retryable": retryable}
        if self.field is not None:
            data["details"] = {"field": self.field}
        return {"code": code, "message": self.message, "data": data}


class Cancelled(Exception):
    """The host cancelled the call (`$/cancelRequest`): answered -32800."""


def not_found(message):
    return ExtError("NotFound", message)


def already_exists(message):
    return ExtError("AlreadyExists", message)


def invalid_argument(field, message):
    return ExtError("InvalidArgument", message, field)


def failed_precondition(message):
    return ExtError("FailedPrecondition", message)


def resource_exhausted(message):
    return ExtError("ResourceExhausted", message)


def unavailable(message):
    return ExtError("Unavailable", message)


def deadline_exceeded(message):
    return ExtError("DeadlineExceeded", message)


def permission_denied(message):
    return ExtError("PermissionDenied", message)


def internal(message):
    return ExtError("Internal", message)
