#!/usr/bin/env bash
# Builds and runs the C API tests in tests/capi against the release
# shared library, using only include/wsgirt.h:
#   serve.c     hello world, request bodies, app errors, threads, shutdown
#   contract.c  versions, status strings, NULL/invalid arguments, ABI check
#   header.cpp  the header as C++17, linked and run
# C tests build with -std=c11 -Wall -Wextra -Wpedantic -Werror and run
# under AddressSanitizer + UndefinedBehaviorSanitizer.
#
# Leak detection is off (ASAN_OPTIONS=detect_leaks=0): CPython deliberately
# keeps memory it allocated at start-up (interned strings, static types,
# the obmalloc arenas of the main interpreter) until the process exits,
# even after Py_FinalizeEx, and LeakSanitizer would report all of it.
# Every other ASan check (overflows, use-after-free, double free) stays on.
#
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PYO3_PYTHON=${PYO3_PYTHON:-/usr/bin/python3}

CC=${CC:-cc}
CXX=${CXX:-c++}
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/capi-tests
libdir=$target/release
mkdir -p "$out"

echo "== cargo build --release (libwsgirt.so)"
cargo build --release --lib || {
    echo "0 passed, 1 failed"
    exit 1
}

# The library's SONAME (e.g. libwsgirt.so.1) is what the tests record as
# NEEDED; cargo does not create that name, so link it in a private lib dir.
rundir=$out/lib
mkdir -p "$rundir"
soname=$(readelf -d "$libdir/libwsgirt.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
ln -sf "$libdir/libwsgirt.so" "$rundir/${soname:-libwsgirt.so}"

warn=(-Wall -Wextra -Wpedantic -Werror)
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
link=(-L"$libdir" -lwsgirt -Wl,-rpath,"$rundir" -pthread)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

passed=0
failed=0
failures=()

# run_test NAME COMMAND...: runs a step, records the result.
run_test() {
    local name=$1
    shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "-- $name: ok"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "-- $name: FAILED"
    fi
}

build_c() {
    "$CC" -std=c11 "${warn[@]}" "${san[@]}" -g -O1 -I"$root/include" \
        "$root/tests/capi/$1.c" -o "$out/$1" "${link[@]}"
}

c_test() {
    build_c "$1" && "$out/$1" "${@:2}"
}

cxx_test() {
    "$CXX" -std=c++17 "${warn[@]}" -I"$root/include" "$root/tests/capi/header.cpp" \
        -o "$out/header-cpp" "${link[@]}" && "$out/header-cpp"
}

# The header on its own, as the first include, in strict C11 and C++17.
header_alone() {
    printf '#include "wsgirt.h"\nint wsgirt_header_alone;\n' >"$out/alone.c" &&
        "$CC" -std=c11 "${warn[@]}" -I"$root/include" -c "$out/alone.c" -o "$out/alone-c.o" &&
        "$CXX" -x c++ -std=c++17 "${warn[@]}" -I"$root/include" -c "$out/alone.c" \
            -o "$out/alone-cxx.o"
}

run_test "header alone (C11, C++17)" header_alone
run_test "contract.c (ASan+UBSan)" c_test contract
run_test "serve.c (ASan+UBSan)" c_test serve "$root/tests/apps"
run_test "header.cpp (C++17)" cxx_test

[ $failed -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
