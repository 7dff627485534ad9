"""A profile's network as Modal's sandbox options.

Modal blocks a sandbox's network (`block_network`) or lets it reach listed
CIDRs (`outbound_cidr_allowlist`) and domains (`outbound_domain_allowlist`),
on any port: a `HOST:PORT` of the profile lets the host through on every
port, which is wider than asked. So the extension does not declare
`egress.allowlist`, and routing sends a profile with an allow list elsewhere
when it can; a profile that names Modal alone gets Modal's host-level list.
"""

import ipaddress

from sandboxer_ext import invalid_argument


def allowances(network):
    """The `Sandbox.create` keyword arguments for `network`."""
    if network.get("egress", "deny") == "allow":
        return {}
    allow = network.get("allow") or []
    if not allow:
        return {"block_network": True}
    cidrs, domains = [], []
    for i, entry in enumerate(allow):
        host, sep, port = str(entry).rpartition(":")
        if not sep or not port.isdigit():
            raise invalid_argument(f"network.allow[{i}]", f"network.allow[{i}] {entry!r} must be HOST:PORT")
        host = host.strip("[]")
        try:
            cidrs.append(str(ipaddress.ip_network(host)))
        except ValueError:
            domains.append(host.lower())
    out = {}
    if cidrs:
        out["outbound_cidr_allowlist"] = cidrs
    if domains:
        out["outbound_domain_allowlist"] = domains
    return out
