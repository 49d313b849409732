#!/usr/bin/env bash
# Brings up the demo app (demo/app.wsgi) through Apache + mod_wsgirt on
# http://127.0.0.1:8000, in the foreground (Ctrl-C stops it). Installs what
# is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
scripts/deps.sh
scripts/build.sh

# Apache's children run as www-data when started as root: serve a copy of
# the app from a world-readable place rather than from this checkout.
app_dir=$(mktemp -d /tmp/wsgirt-demo.XXXXXX)
chmod 755 "$app_dir"
cp demo/app.wsgi "$app_dir/app.wsgi"
chmod 644 "$app_dir/app.wsgi"

echo "wsgirt demo: http://127.0.0.1:8000/ (Ctrl-C to stop)"
exec "$ROOT/target/release/wsgirt-express" start-server "$app_dir/app.wsgi" \
    --host 127.0.0.1 --port 8000 --log-to-terminal
