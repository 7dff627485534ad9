"""What the daemon answers, as typed records. Each model names the schema of
`docs/openapi.yaml` it mirrors (`SCHEMA`); a test holds its fields to that
schema's properties. Every model keeps the answer it was read from (`raw`),
so nothing the daemon adds later is lost."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Endpoint:
    """How one of a sandbox's services is reached."""

    SCHEMA = "Endpoint"
    name: str
    protocol: str
    host: str
    port: int
    url: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Endpoint:
        return cls(d["name"], d["protocol"], d["host"], d["port"], d.get("url"))


@dataclass(frozen=True)
class Usage:
    """What a sandbox has cost so far."""

    SCHEMA = "Sandbox.usage"
    sandbox_seconds: Decimal
    cost: Decimal
    currency: str
    as_of: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Usage:
        return cls(
            Decimal(d["sandbox_seconds"]), Decimal(d["cost"]), d["currency"], _time(d["as_of"])
        )


@dataclass(frozen=True)
class SandboxRecord:
    """One sandbox as the daemon records it."""

    SCHEMA = "Sandbox"
    id: str
    state: str
    profile_id: str
    profile_version: str
    extension: str
    consumer: str
    project: str
    host: str | None
    labels: dict[str, str]
    backend_ref: str | None
    endpoints: list[Endpoint]
    details: dict[str, Any]
    last_error: str | None
    ttl_s: int
    created_at: datetime
    updated_at: datetime
    state_since: datetime
    expires_at: datetime
    ceiling_at: datetime
    cost_per_hour: Decimal
    currency: str
    replaces: str | None
    replaced_by: str | None
    resources: dict[str, Any]
    idle_timeout_s: int | None
    last_activity_at: datetime | None
    usage: Usage | None = None
    refresh_error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SandboxRecord:
        times = {"created_at", "updated_at", "state_since", "expires_at", "ceiling_at",
                 "last_activity_at"}
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "raw":
                continue
            value = d.get(f.name)
            if f.name in times:
                value = _time(value)
            elif f.name == "endpoints":
                value = [Endpoint.from_json(e) for e in value or []]
            elif f.name == "cost_per_hour":
                value = Decimal(value)
            elif f.name == "usage" and value is not None:
                value = Usage.from_json(value)
            values[f.name] = value
        return cls(**values, raw=d)


@dataclass(frozen=True)
class ExecResult:
    """What a command did, once it ended."""

    SCHEMA = "paths./v1/sandboxes/{id}/exec.post.200"
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExecResult:
        return cls(d["exit_code"], d["stdout"], d["stderr"], d.get("truncated", False))


@dataclass(frozen=True)
class FileInfo:
    """One entry of a folder inside a sandbox."""

    SCHEMA = "FileInfo"
    name: str
    path: str
    kind: str
    size: int
    mode: int
    modified_unix: int
    link_target: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileInfo:
        return cls(d["name"], d["path"], d["kind"], d["size"], d["mode"], d["modified_unix"],
                   d.get("link_target"))


@dataclass(frozen=True)
class Output:
    """A chunk a running command wrote (`stream`: stdout, stderr, terminal)."""

    seq: int
    stream: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass(frozen=True)
class Exit:
    """How a command ended."""

    SCHEMA = "Exit"
    exit_code: int
    next_seq: int
    signal: int | None = None
    timed_out: bool = False


def stream_event(d: dict[str, Any]) -> Output | Exit:
    """One event of a command's output stream."""
    if d.get("event") == "exited":
        return Exit(d["exit_code"], d.get("next_seq", 0), d.get("signal"),
                    d.get("timed_out", False))
    return Output(d["seq"], d["stream"], base64.b64decode(d["data"]))
