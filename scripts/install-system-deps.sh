#!/usr/bin/env bash
# System packages the tests and the PTY emulator need beyond npm: socat makes
# the pseudo-terminal pairs that stand in for a printer's serial cable;
# Chromium is the real browser the dashboard tests drive (test/web, through
# playwright-core, which cannot download a browser here); python3-websockets
# is the plain third-party WebSocket client (`python3 -m websockets`) that
# test/e2e/third-party-client.test.ts drives against the client API. The
# system Python (/usr/bin/python3) is checked, not whatever python3 a pyenv
# puts first on PATH.
set -euo pipefail
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
