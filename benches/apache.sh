#!/usr/bin/env bash
# Side-by-side Apache benchmark: our module vs Debian's mod_wsgi 4.9.4 vs
# Apache serving the same bytes as static files, in one run, through the
# shared harness (../shared/bench/run.sh: server pinned to CPU 0, wrk to
# CPU 1, same Apache config for every variant).
#
#   benches/apache.sh                      # embedded mode, all scenarios, 1 round
#   ROUNDS=3 OUT=results.tsv benches/apache.sh
#   SCENARIOS="hello env" DURATION=5 benches/apache.sh
#
# Needs the module built (scripts/build.sh) and the harness's tools
# (wrk; see ../shared/bench/README.md). Results go to docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HARNESS=${HARNESS:-$ROOT/../shared/bench/run.sh}
MODULE=${MODULE:-$ROOT/target/release/mod_wsgirt.so}
[ -x "$HARNESS" ] || { echo "apache.sh: harness not found at $HARNESS (set HARNESS=)" >&2; exit 2; }
[ -f "$MODULE" ] || { echo "apache.sh: $MODULE missing: run scripts/build.sh" >&2; exit 2; }
command -v wrk >/dev/null || { echo "apache.sh: wrk missing: apt-get install -y wrk" >&2; exit 2; }

# The harness writes its generated data into its own folder by default; keep
# it in a scratch copy so a read-only shared/ works too.
work=$(mktemp -d)
chmod 755 "$work"   # Apache children (www-data) read the apps from here
trap 'rm -rf "$work"' EXIT
cp -r "$(dirname "$HARNESS")/." "$work/"
chmod -R u+w "$work"

# Not exec: the EXIT trap must still remove the copy afterwards.
"$work/run.sh" apache-static modwsgi-embedded \
    module="$MODULE" conf="$ROOT/benches/conf/wsgirt-embedded.conf" name=wsgirt-embedded modname=wsgi_module "$@"
