"""sandboxer-ext-openshell's code: `backend` (the extension), `gateway` (the
official client and the gateway's statuses as error kinds), `policy` (a
profile's network as an OpenShell policy)."""
