"""Reading a request's params as the protocol asks: a required field that is
missing is InvalidArgument naming it (1003); a field of the wrong JSON type is
-32602 (`BadParams`)."""

import re
from datetime import datetime

from .errors import invalid_argument

SANDBOX_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class BadParams(Exception):
    """Params that do not decode: answered -32602."""


class Params:
    """A request's params object, read field by field."""

    def __init__(self, raw, prefix=""):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise BadParams(f"params{' ' + prefix if prefix else ''} must be an object")
        self.raw = raw
        self.prefix = prefix

    def _path(self, name):
        return f"{self.prefix}.{name}" if self.prefix else name

    def _typed(self, name, kind, value):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadParams(f"{self._path(name)} has the wrong type")
        return value

    def required(self, name, kind):
        if self.raw.get(name) is None:
            raise invalid_argument(self._path(name), f"{self._path(name)} is required")
        return self._typed(name, kind, self.raw[name])

    def optional(self, name, kind, default=None):
        if self.raw.get(name) is None:
            return default
        return self._typed(name, kind, self.raw[name])

    def strings(self, name):
        """A `{k: v}` of strings (labels, secrets, env), empty when absent."""
        value = self.optional(name, dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise BadParams(f"{self._path(name)} must map strings to strings")
        return dict(value)

    def object(self, name, required=False):
        value = self.required(name, dict) if required else self.optional(name, dict, {})
        return Params(value, self._path(name))

    def sandbox_id(self):
        value = self.required("sandbox_id", str)
        if not SANDBOX_ID.match(value):
            raise invalid_argument("sandbox_id", f"sandbox_id {value!r} is not [a-z0-9][a-z0-9-]{{0,62}}")
        return value

    def instant(self, name):
        """A required RFC 3339 time, as an aware datetime."""
        text = self.required(name, str)
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is None or value.tzinfo is None or "T" not in text.upper():
            raise invalid_argument(self._path(name), f"{self._path(name)} {text!r} is not RFC 3339")
        return value

    def exec_call(self, backend):
        """`sandbox/exec`'s params for a one-part backend: (sandbox_id, argv,
        stdin, timeout_s). `backend` names it in the refusal of a `service`."""
        sandbox_id = self.sandbox_id()
        argv = self.required("argv", list)
        if not argv:
            raise invalid_argument("argv", "argv must name a command")
        if not all(isinstance(a, str) for a in argv):
            raise BadParams("argv must be strings")
        if self.optional("service", str) is not None:
            raise invalid_argument("service", f"a {backend} sandbox has one part: leave service out")
        return sandbox_id, argv, self.optional("stdin", str, ""), self.optional("timeout_s", int, 60)

    def only_host(self, field, host):
        """Refuses a `field` naming another host than a one-host backend's."""
        named = self.optional(field, str)
        if named not in (None, host):
            path = self._path(field)
            raise invalid_argument(path, f"unknown host {named}; the only host is {host}")
