# sandboxer: the README's two commands are `make demo` (the main job) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build release test lint bench demo setup-host clean

build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --release --workspace --bins

# The whole test suite. Builds every binary first: tests run the real executables.
test: build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Figures from a release build (see the note of each issue for goals).
bench: release
	$(CARGO) bench -p sandboxer --bench foundation

clean:
	$(CARGO) clean
