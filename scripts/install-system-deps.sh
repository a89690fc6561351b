#!/usr/bin/env bash
# The system packages the tests need beyond npm, installed with apt-get when
# run as root and missing (a fresh Debian machine, as CI runs), else named in
# one line with the command that installs them (exit 1). `npm test` runs it
# first (tools/run-tests.mjs), asking only for what the chosen test files
# use; with no arguments it checks everything.
#
# Usage: bash scripts/install-system-deps.sh [PART...]
#
# Parts, and why npm cannot stand in for them:
#   socat      makes the pseudo-terminal pairs that play a printer's serial
#              cable (`emulate --pty`); Node has no PTY pair without a
#              native addon of its own
#   chromium   the real browser the dashboard tests drive through
#              playwright-core; Playwright's own download would still need
#              the system libraries a browser links against, from apt
#   python3-websockets
#              `python3 -m websockets`, the third-party WebSocket client of
#              test/e2e/third-party-client.test.ts: its point is a client
#              that shares no code with ours, and npm's (wscat) is built on
#              `ws`, the library the server itself uses
#   openssl    makes the private CA and certificates of the TLS tests, the
#              way docs/deploy.md tells a user to make theirs
#   nginx      the reverse proxy test/e2e/nginx.test.ts runs in front of the
#              server (its own instance in a temporary folder; the package's
#              service is not started)
#   moddable   gcc, make, GLib's headers (through pkg-config) and xz: the
#              Moddable SDK's host tools and Linux runtime, built from the
#              tarball by scripts/moddable-sdk.sh, on which the firmware
#              tests run
#   curl       the HTTP client the docs' examples use, run as written by
#              test/docs-examples.test.ts
#   postgresql the PostgreSQL server (initdb, postgres under
#              /usr/lib/postgresql/VERSION/bin) of which the store and cluster
#              tests start a throwaway cluster of their own
#              (test/helpers/postgres.ts); npm's `pg` is only the client.
#              The package's own cluster (main, made by its postinst) is
#              left stopped. setpriv (util-linux) runs the cluster as
#              `nobody` when the tests run as root
#   haproxy    the load balancer test/e2e/cluster-balancer.test.ts runs in
#              front of three server nodes, with the configuration
#              docs/cluster.md shows (its own instance in a temporary folder;
#              the package's service is not started)
#   mosquitto  the MQTT broker (and mosquitto_sub/mosquitto_pub) of which
#              the MQTT tests start their own instance on a free port
#              (test/helpers/mosquitto.ts): a real broker's retained
#              messages, Wills and restarts, which no npm broker speaks the
#              same MQTT 5 of; the package's service is not started
#   cups       the CUPS scheduler (cupsd), lpadmin/lp and the socket://
#              backend (package `cups`), of which the CUPS tests start a
#              private instance in a temporary folder on a free port, with
#              raw queues to a printer emulator (test/helpers/cups.ts): the
#              bridge's `cups:QUEUE` ports speak IPP to a real scheduler;
#              the package's service is not started, and one started anyway
#              is stopped
# The system Python (/usr/bin/python3) is checked, not whatever python3 a
# pyenv puts first on PATH.
set -euo pipefail
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(socat chromium python3-websockets openssl nginx moddable curl postgresql haproxy mosquitto cups)

need=()
for part in "${parts[@]}"; do
  case "$part" in
    socat) command -v socat >/dev/null 2>&1 || need+=(socat) ;;
    chromium) [ -x /usr/bin/chromium ] || need+=(chromium) ;;
    python3-websockets) /usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets) ;;
    openssl) command -v openssl >/dev/null 2>&1 || need+=(openssl) ;;
    nginx) [ -x /usr/sbin/nginx ] || need+=(nginx) ;;
    moddable)
      command -v gcc >/dev/null 2>&1 || need+=(gcc)
      command -v make >/dev/null 2>&1 || need+=(make)
      command -v xz >/dev/null 2>&1 || need+=(xz-utils)
      { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists glib-2.0; } || need+=(libglib2.0-dev pkg-config)
      ;;
    curl) command -v curl >/dev/null 2>&1 || need+=(curl) ;;
    postgresql)
      compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
      command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
      ;;
    haproxy) [ -x /usr/sbin/haproxy ] || need+=(haproxy) ;;
    mosquitto)
      [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
      command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
      ;;
    cups)
      [ -x /usr/sbin/cupsd ] || need+=(cups-daemon)
      [ -x /usr/bin/lp ] || need+=(cups-client)
      # The socket:// backend a raw queue to a network printer uses (the package `cups` links it into place).
      [ -x /usr/lib/cups/backend/socket ] || need+=(cups)
      ;;
    *) echo "install-system-deps: unknown part '$part' (known: socat chromium python3-websockets openssl nginx moddable curl postgresql haproxy mosquitto cups)" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]}" >&2
# Packages with a service (nginx, postgresql, haproxy, mosquitto, cups) must not start it: the tests
# run their own instance, and a service left on port 80 or 5432 (or failing
# to get it) helps nobody.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" -eq 1 ] && rm -f "$policy"' EXIT
# postgresql's postinst makes the cluster main and asks invoke-rc.d to start
# it, which the policy above refuses; a cluster the install started anyway
# (a service manager that ignores the policy) is stopped: the tests run
# their own, and one on port 5432 would only hide a test that forgot to.
# Clusters that were running before are someone's own, and stay.
online_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters -h | while read -r version cluster _ status _; do
    case "$status" in online*) echo "$version $cluster" ;; esac
  done
}
online_before=$(online_clusters)
# The same for CUPS: a scheduler the install started (a service manager that
# ignores the policy, or socket activation) is stopped. Only the package's
# own, run on /etc/cups: a cupsd given its own configuration (-c) is a test's.
system_cupsd() {
  { pgrep -x cupsd 2>/dev/null || true; } | while read -r pid; do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- ' -c ' || echo "$pid"
  done
}
cupsd_before=$(system_cupsd)
# apt's own progress goes to stderr: `npm test`'s output stays the tests'.
apt-get update >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
online_clusters | while read -r version cluster; do
  if ! grep -qxF "$version $cluster" <<<"$online_before"; then
    echo "install-system-deps: stopping PostgreSQL cluster $version/$cluster, started by its package" >&2
    pg_ctlcluster "$version" "$cluster" stop >&2
  fi
done
if [[ " ${need[*]} " == *" cups-daemon "* || " ${need[*]} " == *" cups "* ]]; then
  if [ -d /run/systemd/system ]; then systemctl stop cups.service cups.socket cups.path >&2 2>/dev/null || true; fi
  system_cupsd | while read -r pid; do
    if ! grep -qxF "$pid" <<<"$cupsd_before"; then
      echo "install-system-deps: stopping cupsd $pid, started by its package" >&2
      kill "$pid"
    fi
  done
fi
if [[ " ${need[*]} " == *" postgresql "* ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "install-system-deps: the postgresql package is installed, but no /usr/lib/postgresql/*/bin/initdb" >&2
  exit 1
fi
