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
source "$(dirname "$0")/harness.sh"

# Not exec: the EXIT trap must still remove the copy afterwards.
"$work/run.sh" apache-static modwsgi-embedded \
    module="$MODULE" conf="$ROOT/benches/conf/wsgirt-embedded.conf" name=wsgirt-embedded modname=wsgi_module "$@"
