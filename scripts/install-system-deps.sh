#!/usr/bin/env bash
# System packages the tests and the PTY emulator need beyond npm: GLib's
# headers (libglib2.0-dev, found through pkg-config) build the Moddable SDK's
# host tools and its Linux host, on which the firmware tests run (the SDK
# itself is prepared by scripts/moddable-sdk.sh); socat makes
# the pseudo-terminal pairs that stand in for a printer's serial cable;
# Chromium is the real browser the dashboard tests drive (test/web, through
# playwright-core, which cannot download a browser here); python3-websockets
# is the plain third-party WebSocket client (`python3 -m websockets`) that
# test/e2e/third-party-client.test.ts drives against the client API; openssl
# makes the private CA and server certificates of the TLS tests at test time;
# nginx is the reverse proxy test/e2e/nginx.test.ts runs in front of the
# server (as the current user, from a temporary folder: the package's own
# service is not used). The system Python (/usr/bin/python3) is checked, not
# whatever python3 a pyenv puts first on PATH.
set -euo pipefail
need=()
pkg-config --exists glib-2.0 >/dev/null 2>&1 || need+=(libglib2.0-dev pkg-config)
command -v make >/dev/null 2>&1 || need+=(make)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v socat >/dev/null 2>&1 || need+=(socat)
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
# Packages with a service (nginx) must not start it: the tests run their own
# instance, and a service left on port 80 (or failing to get it) helps nobody.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" -eq 1 ] && rm -f "$policy"' EXIT
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
