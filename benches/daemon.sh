#!/usr/bin/env bash
# Side-by-side daemon-mode benchmark: our module's daemon mode against
# Debian's mod_wsgi 4.9.4 daemon mode (1 process, $THREADS threads,
# %{GLOBAL}, WSGIRestrictEmbedded On: the identical snippet), in one run of
# the shared harness (../shared/bench/run.sh: server pinned to CPU 0, wrk to
# CPU 1). Compare within a run; the figures go to docs/performance.md.
#
#   benches/daemon.sh                          # all scenarios, 1 round
#   ROUNDS=2 OUT=results.tsv benches/daemon.sh
#   SCENARIOS="hello big file" DURATION=5 benches/daemon.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HARNESS=${HARNESS:-$ROOT/../shared/bench/run.sh}
MODULE=${MODULE:-$ROOT/target/release/mod_wsgirt.so}
[ -x "$HARNESS" ] || { echo "daemon.sh: harness not found at $HARNESS (set HARNESS=)" >&2; exit 2; }
[ -f "$MODULE" ] || { echo "daemon.sh: $MODULE missing: run scripts/build.sh" >&2; exit 2; }
command -v wrk >/dev/null || { echo "daemon.sh: wrk missing: apt-get install -y wrk" >&2; exit 2; }

# Scratch copy of the harness (it writes generated data next to itself).
work=$(mktemp -d)
chmod 755 "$work"   # Apache children and the daemons (www-data) read the apps from here
trap 'rm -rf "$work"' EXIT
cp -r "$(dirname "$HARNESS")/." "$work/"
chmod -R u+w "$work"

"$work/run.sh" modwsgi-daemon \
    module="$MODULE" conf="$ROOT/benches/conf/wsgirt-daemon.conf" name=wsgirt-daemon modname=wsgi_module "$@"
