# Sourced by the benchmark scripts (apache.sh, daemon.sh, events.sh): checks
# what they need and makes a scratch copy of the shared harness in $work
# (removed on exit), because the harness writes generated data next to
# itself and ../shared may be read-only. Sets ROOT (the repository, also
# the working directory), HARNESS, MODULE and work.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
bench_name=$(basename "$0")
HARNESS=${HARNESS:-$ROOT/../shared/bench/run.sh}
MODULE=${MODULE:-$ROOT/target/release/mod_wsgirt.so}
[ -x "$HARNESS" ] || { echo "$bench_name: harness not found at $HARNESS (set HARNESS=)" >&2; exit 2; }
[ -f "$MODULE" ] || { echo "$bench_name: $MODULE missing: run scripts/build.sh" >&2; exit 2; }
command -v wrk >/dev/null || { echo "$bench_name: wrk missing: apt-get install -y wrk" >&2; exit 2; }

work=$(mktemp -d)
chmod 755 "$work"   # Apache children and daemons (www-data) read the apps from here
trap 'rm -rf "$work"' EXIT
cp -r "$(dirname "$HARNESS")/." "$work/"
chmod -R u+w "$work"
