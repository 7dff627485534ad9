"""What the tests run against: a real `sandboxer serve` on loopback, started by
the repository's test suite (`tests/tests/e2e/e2b.rs`), its E2B-compatible API
at `$E2B_API_URL` (= `$E2B_SANDBOX_URL`, `http://127.0.0.1:PORT/e2b`), with:

- E2B_API_KEY: a member token of the daemon (the key the SDK uses)
- SANDBOXER_E2B_OTHER_KEY: a member token of another project
- SANDBOXER_E2B_TEMPLATE: a compose-ssh profile (busybox with bash)
- SANDBOXER_E2B_IDS: a file each created sandbox's id is written to

The official `e2b` SDK is used unmodified. Nothing may leave this machine:
the SDK's URLs are checked to be loopback before any test runs, its HTTP
client (reqwest, under `pyqwest`) is given a proxy that refuses everything
but loopback, and Python sockets are guarded too.

With SANDBOXER_E2B_LIVE=1 (`scripts/e2b-live.sh`, for a user with an E2B
key and a network) the same tests run against E2B itself, which shows that
what they expect of sandboxer is what E2B does; the tests of sandboxer's own
refusals are skipped there.
"""

import ipaddress
import os
import socket
import urllib.parse

import pytest

LIVE = os.environ.get("SANDBOXER_E2B_LIVE") == "1"

# What only sandboxer does (its refusals, its keys): not asked of E2B.
sandboxer_only = pytest.mark.skipif(LIVE, reason="sandboxer's own behaviour, not E2B's")

if not LIVE:
    os.environ["HTTP_PROXY"] = os.environ["HTTPS_PROXY"] = os.environ["ALL_PROXY"] = "http://127.0.0.1:9"
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    os.environ.pop("E2B_DEBUG", None)
    os.environ.pop("E2B_DOMAIN", None)
    for variable in ("E2B_API_URL", "E2B_SANDBOX_URL"):
        host = urllib.parse.urlsplit(os.environ[variable]).hostname
        assert ipaddress.ip_address(host).is_loopback, f"{variable} must be loopback, not {host}"

    from e2b import ConnectionConfig  # noqa: E402  (after the environment is set)

    _config = ConnectionConfig()
    assert _config.api_url == os.environ["E2B_API_URL"], _config.api_url


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    if LIVE:
        return
    connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            if not ipaddress.ip_address(address[0]).is_loopback:
                raise AssertionError(f"a connection to {address!r} was attempted")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def template():
    return os.environ["SANDBOXER_E2B_TEMPLATE"]


@pytest.fixture
def other_key():
    return os.environ["SANDBOXER_E2B_OTHER_KEY"]


@pytest.fixture
def record_id():
    def record(sandbox_id):
        with open(os.environ.get("SANDBOXER_E2B_IDS", os.devnull), "a") as f:
            f.write(sandbox_id + "\n")

    return record
