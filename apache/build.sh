#!/usr/bin/env bash
# Builds the Apache module target/release/mod_wsgirt.so from apache/mod_wsgi.c
# and the static library target/module/libwsgirt.a (built here with
# `cargo build --profile module`: release plus fat LTO, see Cargo.toml).
# The module exports only `wsgi_module`; libpython
# is linked dynamically, as Apache's own mod_wsgi does.
#
#   apache/build.sh                 # uses apxs from PATH
#   APXS=/opt/httpd/bin/apxs CC=clang apache/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYO3_PYTHON=${PYO3_PYTHON:-/usr/bin/python3}

APXS=${APXS:-$(command -v apxs || command -v apxs2 || true)}
[ -n "$APXS" ] || { echo "apache/build.sh: apxs not found (apt-get install apache2-dev)" >&2; exit 2; }
CC=${CC:-gcc}
OUT=target/release/mod_wsgirt.so

cargo build --profile module --lib
mkdir -p "$(dirname "$OUT")"

# The system libraries the staticlib needs (libpython, libgcc_s, ...), as rustc
# reports them (replayed from cargo's cache when the library is up to date).
native_libs=$(cargo rustc --profile module --lib --crate-type staticlib -- --print native-static-libs 2>&1 |
    sed -n 's/^note: native-static-libs: //p' | tail -n 1)
if [ -z "$native_libs" ]; then
    echo "apache/build.sh: could not determine native-static-libs" >&2
    exit 1
fi
pylibdir=$("$PYO3_PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
pyversion=$("$PYO3_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# Apache and APR headers as system headers: their warnings are not ours.
includes=""
for flag in -I"$("$APXS" -q INCLUDEDIR)" $("$APXS" -q EXTRA_INCLUDES); do
    case $flag in
    -I/usr/include | -I.) ;;
    -I*) includes="$includes -isystem ${flag#-I}" ;;
    *) includes="$includes $flag" ;;
    esac
done

# shellcheck disable=SC2046,SC2086
"$CC" -shared -fPIC -o "$OUT" \
    $("$APXS" -q CFLAGS) $("$APXS" -q EXTRA_CPPFLAGS) $("$APXS" -q EXTRA_CFLAGS) \
    -std=gnu11 -O2 -Wall -Wextra -Werror \
    -DWSGIRT_PYTHON_VERSION="\"$pyversion\"" \
    $includes -Iinclude \
    apache/mod_wsgi.c apache/auth.c apache/daemon.c apache/metrics.c target/module/libwsgirt.a \
    -L"$pylibdir" $native_libs \
    -Wl,--version-script=apache/wsgirt.map -Wl,--gc-sections -Wl,-z,nodelete \
    -Wl,-z,relro -Wl,-z,now -Wl,--no-undefined-version

echo "built $OUT"
