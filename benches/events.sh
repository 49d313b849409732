#!/usr/bin/env bash
# hello throughput in embedded mode with one no-op event subscriber
# (benches/subscriber.py, loaded with WSGIImportScript) against none, for our
# module and for Debian's mod_wsgi 4.9.4, side by side in one run of the
# shared harness (../shared/bench/run.sh). Run on a quiet machine; results
# go to docs/performance.md.
#
# The `*-calls` variants serve benches/hello_calls.py with no subscriber:
# hello plus, in the app, the same three `cb(name, **event)` calls a
# subscriber gets. Their cost is the floor for any module: what the calls
# the issue requires cost here with no event machinery at all.
#
#   benches/events.sh                          # hello, 1 round
#   ROUNDS=3 OUT=/tmp/events.tsv benches/events.sh
source "$(dirname "$0")/harness.sh"
cp benches/subscriber.py "$work/subscriber.py"
chmod 644 "$work/subscriber.py"
{
    cat benches/conf/wsgirt-embedded.conf
    echo "WSGIImportScript $work/subscriber.py process-group=%{GLOBAL} application-group=%{GLOBAL}"
} >"$work/subscriber.conf"
cp benches/hello_calls.py "$work/hello_calls.py"
chmod 644 "$work/hello_calls.py"
sed -e "s|@APP@|$work/hello_calls.py|" -e "s|@APPDIR@|$work|" \
    benches/conf/wsgirt-embedded.conf >"$work/calls.conf"

MODWSGI=${MODWSGI:-/usr/lib/apache2/modules/mod_wsgi.so}
SCENARIOS=${SCENARIOS:-hello} "$work/run.sh" modwsgi-embedded \
    module="$MODWSGI" conf="$work/subscriber.conf" name=modwsgi-subscriber modname=wsgi_module \
    module="$MODWSGI" conf="$work/calls.conf" name=modwsgi-calls modname=wsgi_module \
    module="$MODULE" conf="$ROOT/benches/conf/wsgirt-embedded.conf" name=wsgirt-embedded modname=wsgi_module \
    module="$MODULE" conf="$work/subscriber.conf" name=wsgirt-subscriber modname=wsgi_module \
    module="$MODULE" conf="$work/calls.conf" name=wsgirt-calls modname=wsgi_module "$@"
