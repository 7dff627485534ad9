"""Results every extension builds the same way: the digest that says whether a
repeated create is the same one, and an exec result that keeps the output
rules (text, at most 1 MiB a stream, `truncated` when cut)."""

import hashlib
import json

MAX_STREAM = 1024 * 1024


def create_digest(params):
    """A digest of a create's identity (`docs/protocol.md`, Idempotency): every
    param but the progress token, the secrets' names but not their values."""
    identity = dict(params.raw)
    identity.pop("progress_token", None)
    identity["secrets"] = sorted((identity.get("secrets") or {}).keys())
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def text_of(data):
    """Output as the protocol's text, cut to 1 MiB on a character boundary;
    and whether it was cut."""
    text = (data or b"").decode("utf-8", errors="replace")
    encoded = text.encode()
    if len(encoded) <= MAX_STREAM:
        return text, False
    return encoded[:MAX_STREAM].decode("utf-8", errors="ignore"), True


def exec_result(exit_code, stdout, stderr):
    """A `sandbox/exec` result from a command's exit code and output bytes."""
    out, cut_out = text_of(stdout)
    err, cut_err = text_of(stderr)
    result = {"exit_code": exit_code, "stdout": out, "stderr": err}
    if cut_out or cut_err:
        result["truncated"] = True
    return result
