"""A profile's network as an OpenShell sandbox policy.

OpenShell's gateway denies every connection no rule of the sandbox's policy
lets through, and matches rules by host name (wildcards included) at its
proxy. So `network.egress: deny` with `allow: [HOST:PORT, ...]` becomes one
rule, `sandboxer_egress`, with an endpoint per destination, for any binary in
the sandbox (`/**`). A profile's `spec.policy` (the `SandboxPolicy` message in
JSON, proto field names) is the base; the rule is added to it.
"""

import ipaddress
import re

from google.protobuf import json_format
from openshell._proto import sandbox_pb2
from sandboxer_ext import invalid_argument

RULE = "sandboxer_egress"
HOST = re.compile(r"^(\*\.|\*\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def destination(entry, index):
    """`HOST:PORT` as (host, port), checked as the gateway would: a wildcard
    needs three labels at least."""
    field = f"network.allow[{index}]"
    host, sep, port = str(entry).rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise invalid_argument(field, f"{field} {entry!r} must be HOST:PORT")
    host = host.strip("[]").lower()
    try:
        ipaddress.ip_address(host)
        return host, int(port)
    except ValueError:
        pass
    if not HOST.match(host) or (host.startswith("*") and host.count(".") < 2):
        raise invalid_argument(field, f"{field}: {host!r} is not a host name OpenShell matches "
                                      "(a wildcard needs three labels: *.example.com)")
    return host, int(port)


def policy_of(spec_policy, network):
    """The `SandboxPolicy` to create with, or None to leave the gateway's."""
    base = sandbox_pb2.SandboxPolicy()
    if spec_policy is not None:
        if not isinstance(spec_policy, dict):
            raise invalid_argument("profile.spec.policy", "profile.spec.policy must be a mapping")
        try:
            json_format.ParseDict(spec_policy, base)
        except json_format.ParseError as e:
            raise invalid_argument("profile.spec.policy", f"profile.spec.policy: {e}") from None
    egress = network.get("egress", "deny")
    allow = network.get("allow") or []
    if egress == "deny":
        if RULE in base.network_policies:
            raise invalid_argument("profile.spec.policy",
                                   f"profile.spec.policy: the rule name {RULE} is sandboxer's")
        if allow:
            rule = base.network_policies[RULE]
            rule.name = RULE
            for i, entry in enumerate(allow):
                host, port = destination(entry, i)
                endpoint = rule.endpoints.add()
                endpoint.port = port
                try:
                    ipaddress.ip_address(host)
                    endpoint.allowed_ips.append(host)
                except ValueError:
                    endpoint.host = host
            rule.binaries.add().path = "/**"
        base.version = base.version or 1
    elif spec_policy is None:
        return None
    return base
