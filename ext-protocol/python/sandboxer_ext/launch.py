"""Starting a Python extension under a Python that has its backend's client.

An extension's executable is a script; the Python that runs it (`python3` on
`PATH`) may lack the client package it needs. `need(package, variable)` runs
the script again under `$variable` when set, else under the tests' environment
(`/var/lib/sandboxer/py`, made by `scripts/python-env.sh`), and fails with a
clear message when neither has it. Call it before importing the package.
"""

import importlib.util
import os
import sys

FALLBACK_PYTHON = "/var/lib/sandboxer/py/bin/python"
AGAIN = "SANDBOXER_EXT_PYTHON_AGAIN"


def need(package, variable, install):
    """Returns when `package` can be imported; else re-executes the script
    under another Python, or exits 1 saying how to `install` it."""
    if importlib.util.find_spec(package) is not None:
        return
    python = os.environ.get(variable) or FALLBACK_PYTHON
    if os.environ.get(AGAIN) or not os.access(python, os.X_OK):
        print(f"{os.path.basename(sys.argv[0])}: the `{package}` package is missing: "
              f"{install}, or set {variable} to a Python that has it", file=sys.stderr)
        sys.exit(1)
    os.environ[AGAIN] = "1"
    script = os.path.realpath(sys.argv[0])
    os.execv(python, [python, script, *sys.argv[1:]])
