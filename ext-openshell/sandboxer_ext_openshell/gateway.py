"""The gateway as the extension reaches it: the official client, built from the
options (a token over plaintext only to loopback), and the gateway's gRPC
statuses as the protocol's error kinds. A message never carries the token."""

import ipaddress
from pathlib import Path

import grpc
from openshell import SandboxClient, TlsConfig
from sandboxer_ext import ExtError, invalid_argument

KINDS = {
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.UNAUTHENTICATED: "PermissionDenied",
    grpc.StatusCode.ABORTED: "Unavailable",
}


def client_of(options):
    """A `SandboxClient` for the options' endpoint: plaintext unless a CA (or
    client certificate) is named, the token as its bearer."""
    tls = None
    paths = {k: options.get(k) for k in ("ca_path", "cert_path", "key_path")}
    if any(paths.values()):
        tls = TlsConfig(**{k: Path(v) if v else None for k, v in paths.items()})
    elif options.get("token") and not on_loopback(options["endpoint"]):
        # A bearer token goes in the clear only to this machine.
        raise invalid_argument("options.endpoint",
                               f"the token would cross the network in the clear to "
                               f"{options['endpoint']}: name the gateway's CA in ca_path (TLS)")
    return SandboxClient(options["endpoint"], tls=tls,
                         bearer_token=options.get("token") or None,
                         timeout=float(options.get("call_timeout_s") or 30))


def on_loopback(endpoint):
    """Whether `host:port` is this machine."""
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def code_of(error):
    code = getattr(error, "code", None)
    return code() if callable(code) else None


def has_code(error, name):
    """Whether `error` is the gateway's status `name` (`NOT_FOUND`...)."""
    code = code_of(error)
    return code is not None and code.name == name


def translated(error, what, field=None):
    """A gateway's refusal of `what` as an ExtError of the matching kind."""
    code = code_of(error)
    kind = KINDS.get(code, "Internal")
    details = error.details() if hasattr(error, "details") and callable(error.details) else ""
    violations = getattr(error, "field_violations", ()) or ()
    if violations:
        details += " (" + "; ".join(f"{v.field}: {v.description}" for v in violations) + ")"
    name = code.name if code is not None else type(error).__name__
    message = f"OpenShell {what}: {name}: {details}".rstrip(": ")
    return ExtError(kind, message, field if kind == "InvalidArgument" else None)
