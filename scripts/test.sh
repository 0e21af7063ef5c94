#!/usr/bin/env bash
# Installs what the test suite needs, then runs every test: unit tests and the end-to-end tests
# against real registries, the podman CLI, a podman service and podman-py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
# Every declared dependency must be named by the code that declares it (fast, no build).
python3 scripts/check-deps.py
# Every citation of docs/ resolves to a file and heading, and nothing cites what is not in the
# repository (fast, no build).
python3 scripts/check-docs.py
# The end-to-end tests start the manifold binary, so it is built first.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
