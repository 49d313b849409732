#!/usr/bin/env bash
# Installs what building and testing wsgirt needs on Debian/Ubuntu.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh [test]   ("test" adds what the test suite needs)
set -euo pipefail

packages=(gcc make pkg-config python3 python3-dev apache2 apache2-dev curl)
if [ "${1:-}" = test ]; then
    # The reference mod_wsgi for side-by-side tests, pytest for the
    # end-to-end suite, cmake for the C examples, clang-format for style,
    # openssl for the certificates the HTTPS tests make at test time.
    packages+=(libapache2-mod-wsgi-py3 python3-pytest cmake clang-format apache2-utils openssl)
fi

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "deps: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "deps: missing packages; run as root:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    # Debian's packaged Rust is too old for this crate (rust-version in Cargo.toml).
    echo "deps: no Rust toolchain; install one with rustup:" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt" >&2
    exit 1
fi
for component in clippy rustfmt; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null 2>&1; then
            rustup component add "$component"
        else
            echo "deps: cargo $component is missing: rustup component add $component" >&2
            exit 1
        fi
    fi
done
