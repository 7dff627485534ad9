# sandboxer: the README's two commands are `make demo` (the main job) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build agent release test lint bench demo setup-host setup-vm-host setup-postgres setup-browser test-hosts tools fuzz clean

# Prepares this machine as a sandbox host (root, Debian 12; idempotent): podman
# and sshd for compose-ssh, QEMU and a guest kernel for vm-packer.
setup-host: setup-vm-host
	scripts/setup-host.sh

# QEMU (from bookworm-backports), a guest kernel, the image tools and QEMU's
# account, for VM sandboxes (ext-vm-packer).
setup-vm-host:
	scripts/setup-vm-host.sh

# PostgreSQL (Debian's package) on 127.0.0.1 with a test database: the store
# suite runs on it as well as on SQLite, and the fleet tests run several daemons
# over it.
setup-postgres:
	scripts/setup-postgres.sh

# Debian's Chromium and ChromeDriver: the console's browser tests and its bench
# drive a headless Chromium over WebDriver.
setup-browser:
	scripts/setup-browser.sh

# Two more hosts on this machine for the placement tests (network namespaces,
# each with its own address, sshd and podman storage).
test-hosts: setup-host
	scripts/test-hosts.sh up

# The main job: a real sandbox created, shown, reached and destroyed.
demo:
	scripts/main-job.sh

# The agent runs inside sandboxes whatever their image (busybox has no C
# library): it is linked statically, for the host's own triple, into
# target/<triple>/<profile>/sandboxer-agent, where extensions look for it.
HOST_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
STATIC_AGENT = RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build -p sandboxer-agent --bin sandboxer-agent --target $(HOST_TRIPLE)

build: agent
	$(CARGO) build --workspace --bins

agent:
	$(STATIC_AGENT)

release:
	$(STATIC_AGENT) --release
	$(CARGO) build --release --workspace --bins

# schemathesis checks the daemon against docs/openapi.yaml (a test runs it);
# scripts/python-env.sh makes the Python with the official clients tests drive
# sandboxer with (the MCP and E2B SDKs), scripts/js-env.sh the Node.js with E2B's
# npm SDK.
tools:
	@schemathesis --version >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check schemathesis
	@scripts/python-env.sh
	@scripts/js-env.sh
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install -q --locked cargo-fuzz

# Every fuzz target for a minute from its committed corpus (scripts/fuzz.sh).
fuzz: tools
	scripts/fuzz.sh 60

# The whole test suite. Prepares the host (podman, sshd on 127.0.0.1, images,
# PostgreSQL on 127.0.0.1),
# installs the test tools and builds every binary first: tests run the real
# executables against real services.
test: setup-host setup-postgres setup-browser test-hosts tools build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	scripts/fuzz.sh 60

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Figures from a release build, written to docs/benchmarks.md with the machine and
# the method (see the note of each issue for goals).
bench: setup-host setup-postgres setup-browser release
	scripts/bench-report.sh

clean:
	$(CARGO) clean
