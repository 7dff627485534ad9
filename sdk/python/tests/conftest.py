"""What the tests run against: a real `sandboxer serve`, started by the
repository's test suite (`tests/tests/e2e/python_sdk.rs`), named by:

- SANDBOXER_URL, SANDBOXER_TOKEN: the daemon and an admin token
- SANDBOXER_MEMBER_TOKEN: a member token of another project
- SANDBOXER_TEST_PROFILES: `NAME:KIND,...`, KIND `commands` (a backend without
  files, the fixture) or `files` (commands, files and trees: compose-ssh)
- SANDBOXER_OPENAPI: the path of docs/openapi.yaml
"""

import os

import pytest


def profiles():
    spec = os.environ.get("SANDBOXER_TEST_PROFILES", "")
    return [tuple(p.split(":")) for p in spec.split(",") if p]


def pytest_generate_tests(metafunc):
    if "profile" in metafunc.fixturenames:
        found = profiles()
        metafunc.parametrize("profile,kind", found, ids=[name for name, _ in found])


@pytest.fixture
def member_token():
    return os.environ["SANDBOXER_MEMBER_TOKEN"]


@pytest.fixture
def openapi():
    import yaml

    with open(os.environ["SANDBOXER_OPENAPI"]) as f:
        return yaml.safe_load(f)


@pytest.fixture
def files_profile():
    """A profile whose sandboxes have files (compose-ssh's)."""
    found = [name for name, kind in profiles() if kind == "files"]
    assert found, "SANDBOXER_TEST_PROFILES names no profile of kind `files`"
    return found[0]
