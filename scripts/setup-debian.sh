#!/usr/bin/env bash
# Installs what building and testing manifold needs on Debian 12: apt packages, a Rust
# toolchain when none is present, and (with --test) a Python venv with podman-py.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[[ "${1:-}" == "--test" ]] && want_tests=true

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

packages=(cmake gcc pkg-config ca-certificates curl)
commands=(cmake cc curl)
if $want_tests; then
  packages+=(docker-registry skopeo podman apache2-utils jq socat openssl python3-venv)
  commands+=(docker-registry skopeo podman htpasswd jq socat openssl)
fi
missing=false
for c in "${commands[@]}"; do command -v "$c" >/dev/null 2>&1 || missing=true; done
if $want_tests && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing=true; fi
if $missing; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  [[ -x "$HOME/.cargo/bin/cargo" ]] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

if $want_tests; then
  if ! .venv/bin/python -c 'import podman' >/dev/null 2>&1; then
    python3 -m venv .venv
    .venv/bin/pip install -q 'podman>=5,<6'
  fi
fi
