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
source "$(dirname "$0")/harness.sh"

"$work/run.sh" modwsgi-daemon \
    module="$MODULE" conf="$ROOT/benches/conf/wsgirt-daemon.conf" name=wsgirt-daemon modname=wsgi_module "$@"
