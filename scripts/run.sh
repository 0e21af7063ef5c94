#!/usr/bin/env bash
# Builds manifold and runs it on its embedded defaults (tcp://127.0.0.1:8585 and a unix socket).
# Extra arguments go to `manifold serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p manifold-proxy --bin manifold
exec target/release/manifold serve "$@"
