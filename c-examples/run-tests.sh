#!/usr/bin/env bash
# Builds libwsgirt, installs it with CMake into a temporary prefix, and
# builds and tests the C examples against that installation only:
#   1. cargo build --release
#   2. root CMake project: configure, build, install into $prefix
#   3. c-examples (find_package(wsgirt CONFIG)): configure, build, ctest
#   4. c-examples/pkgconfig/Makefile (pkg-config --cflags --libs wsgirt),
#      shared and static, each run once against the hello application
# Build trees go to build/ (gitignored); the prefix is removed on exit
# (KEEP_PREFIX=1 keeps it). Exits non-zero on any failure.
#
# Usage: c-examples/run-tests.sh [ctest arguments...]
#   e.g. c-examples/run-tests.sh -R hello
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
build=$root/build
# Debian's CPython, never a pyenv shim (the pin of .cargo/config.toml).
export PYO3_PYTHON=${PYO3_PYTHON:-/usr/bin/python3}
test_python=/usr/bin/python3
[ -x "$test_python" ] || test_python=$(command -v python3)
jobs=$(nproc 2>/dev/null || echo 2)

for tool in cargo cmake ctest pkg-config make cc curl; do
    command -v "$tool" >/dev/null || { echo "run-tests.sh: $tool is not installed" >&2; exit 1; }
done

prefix=$(mktemp -d "${TMPDIR:-/tmp}/wsgirt-prefix.XXXXXX")
cleanup() {
    if [ "${KEEP_PREFIX:-0}" = 1 ]; then
        echo "run-tests.sh: kept the installation in $prefix"
    else
        rm -rf "$prefix"
    fi
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }

step "cargo build --release"
cargo build --release

step "libwsgirt: cmake configure, build, install -> $prefix"
cmake -S . -B "$build/cmake" -DCMAKE_INSTALL_PREFIX="$prefix"
cmake --build "$build/cmake" --parallel "$jobs"
cmake --install "$build/cmake"

step "c-examples: find_package(wsgirt) build and ctest"
# A fresh tree each run: the previous run's prefix no longer exists.
rm -rf "$build/c-examples"
cmake -S c-examples -B "$build/c-examples" -DCMAKE_PREFIX_PATH="$prefix" \
    -DWSGIRT_TEST_PYTHON="$test_python"
cmake --build "$build/c-examples" --parallel "$jobs"
(cd "$build/c-examples" && ctest --output-on-failure --no-tests=error --parallel "$jobs" "$@")

step "c-examples/pkgconfig/Makefile: shared and static"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
echo "pkg-config --cflags --libs wsgirt: $(pkg-config --cflags --libs wsgirt)"
for variant in shared static; do
    dir=$build/pkgconfig-$variant
    rm -rf "$dir"
    mkdir -p "$dir"
    static=0
    [ "$variant" = static ] && static=1
    make -C "$dir" -f "$root/c-examples/pkgconfig/Makefile" STATIC=$static
    "$test_python" c-examples/tests/http_test.py --host "$dir/unit_host" \
        --apps c-examples/apps hello
done

step "c-examples: all passed"
