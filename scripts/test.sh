#!/usr/bin/env bash
# Runs the whole wsgirt test suite on a Debian/Ubuntu machine, installing
# what is missing first (scripts/deps.sh). Stages:
#   style      cargo fmt --check, cargo clippy -D warnings, clang-format
#   build      release library, Apache module, wsgirt-express
#   rust       cargo test --release (unit, C API from Rust, header, exports, express)
#   c-api      C tests against the header alone, under AddressSanitizer
#   c-examples CMake package + find_package(wsgirt) host, pkg-config host (ctest)
#   e2e        real Apache + our module AND Debian's mod_wsgi, real HTTP (pytest)
# Usage: scripts/test.sh [stage ...]   (default: all, in that order)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYO3_PYTHON=/usr/bin/python3

scripts/deps.sh test || exit 1

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(style build rust c-api c-examples e2e)

stage_style() {
    cargo fmt --all -- --check &&
        cargo clippy --release --workspace --all-targets -- -D warnings &&
        clang-format --dry-run --Werror apache/*.c apache/*.h c-examples/*.c tests/capi/*.c
}
stage_build() { scripts/build.sh; }
stage_rust() { cargo test --release --workspace --no-fail-fast; }
stage_c_api() { tests/run-c-tests.sh; }
stage_c_examples() { c-examples/run-tests.sh; }
stage_e2e() {
    # Every behaviour test runs against our module and Debian's mod_wsgi.
    local cache
    cache=$(mktemp -d)
    if WSGIRT_E2E_MODULES=wsgirt,modwsgi /usr/bin/python3 -m pytest tests/e2e -q -o cache_dir="$cache"; then
        rm -rf "$cache"
        return 0
    fi
    # Known flake (docs/status.md): httpd's event MPM child can crash in its
    # own cleanup around a graceful restart. Failed tests get one more run;
    # a test that then passes is reported as FLAKY, never silently.
    echo "=== e2e: re-running the failed tests once"
    if WSGIRT_E2E_MODULES=wsgirt,modwsgi /usr/bin/python3 -m pytest tests/e2e -q -o cache_dir="$cache" --lf; then
        echo "=== e2e: FLAKY: the tests above failed once and passed on the re-run"
        rm -rf "$cache"
        return 0
    fi
    rm -rf "$cache"
    return 1
}

passed=0
failed=0
failures=()
for stage in "${stages[@]}"; do
    fn="stage_${stage//-/_}"
    if ! declare -F "$fn" >/dev/null; then
        echo "test.sh: unknown stage '$stage'" >&2
        exit 2
    fi
    echo "=== $stage"
    start=$(date +%s)
    if "$fn"; then
        passed=$((passed + 1))
        echo "=== $stage: ok ($(($(date +%s) - start)) s)"
    else
        failed=$((failed + 1))
        failures+=("$stage")
        echo "=== $stage: FAILED ($(($(date +%s) - start)) s)"
    fi
done

[ $failed -eq 0 ] || echo "failed stages: ${failures[*]}"
echo "stages: $passed passed, $failed failed"
[ $failed -eq 0 ]
