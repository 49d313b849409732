#!/usr/bin/env bash
# Builds the library (release) and the Apache module
# target/release/mod_wsgirt.so, plus the wsgirt-express command.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYO3_PYTHON=/usr/bin/python3
cargo build --release --workspace
apache/build.sh
