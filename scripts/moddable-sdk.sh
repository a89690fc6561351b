#!/usr/bin/env bash
# Finds or prepares the Moddable SDK that the firmware is built and tested
# with, and prints its root (the value for $MODDABLE) on stdout.
#
# A user with an SDK of their own sets $MODDABLE, as the Moddable tools
# expect; its tools must already be built. Otherwise the SDK subset shipped
# beside the project (../shared/moddable, or $PRINTBRIDGE_MODDABLE_TARBALL)
# is unpacked once into .cache/moddable (ignored by git) and its host tools
# are built there: about two minutes on two cores, then reused.
#
# Usage: bash scripts/moddable-sdk.sh [--quiet]   (progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
say() { [ "${1:-}" = "" ] || echo "moddable-sdk: $*" >&2; }

tools_ok() {
  local bin="$1/build/bin/lin/release"
  [ -x "$bin/mcconfig" ] && [ -x "$bin/xsc" ] && [ -x "$bin/xsl" ] && [ -x "$bin/mcrez" ]
}

if [ -n "${MODDABLE:-}" ]; then
  if ! tools_ok "$MODDABLE"; then
    echo "moddable-sdk: \$MODDABLE=$MODDABLE has no built tools in build/bin/lin/release; build them (see docs/firmware.md) or unset MODDABLE" >&2
    exit 1
  fi
  echo "$MODDABLE"
  exit 0
fi

tarball="${PRINTBRIDGE_MODDABLE_TARBALL:-}"
if [ -z "$tarball" ]; then
  for t in "$root"/../shared/moddable/moddable-sdk-*.tar.xz; do
    [ -f "$t" ] && tarball="$t"
  done
fi
cache="$root/.cache/moddable"
if [ -z "$tarball" ]; then
  # A cache made earlier still serves when the tarball has gone.
  for d in "$cache"/moddable-*; do
    if [ -d "$d" ] && tools_ok "$d"; then echo "$d"; exit 0; fi
  done
  echo "moddable-sdk: no Moddable SDK: set \$MODDABLE, or place the SDK tarball at ../shared/moddable/" >&2
  exit 1
fi

name="$(basename "$tarball" .tar.xz)"
stamp="$cache/$name.ready"
if [ -f "$stamp" ]; then
  sdk="$(cat "$stamp")"
  if tools_ok "$sdk"; then echo "$sdk"; exit 0; fi
fi

# The host tools link against GLib.
if ! pkg-config --exists glib-2.0 2>/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "moddable-sdk: GLib headers missing; install them with: sudo apt-get install libglib2.0-dev pkg-config" >&2
    exit 1
  fi
  say "installing libglib2.0-dev"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libglib2.0-dev pkg-config >&2
fi

# Unpack and build under a lock, so two test processes never race.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$stamp" ] && tools_ok "$(cat "$stamp")"; then cat "$stamp"; exit 0; fi
rm -rf "$cache/unpack"
mkdir -p "$cache/unpack"
say "unpacking $(basename "$tarball")"
tar -xJf "$tarball" -C "$cache/unpack"
top="$(ls "$cache/unpack")"
rm -rf "${cache:?}/$top"
mv "$cache/unpack/$top" "$cache/$top"
rmdir "$cache/unpack"
sdk="$cache/$top"

say "building the SDK host tools (about two minutes)"
export MODDABLE="$sdk"
log="$cache/build-tools.log"
(
  # The XS makefiles find their sources relative to their own folder.
  cd "$sdk/xs/makefiles/lin"
  for mk in xsc xsid xsl; do
    make -j2 GOAL=release -f "$mk.mk"
  done
  cd "$sdk/build/makefiles/lin"
  make -j2 GOAL=release -f tools.mk
) >"$log" 2>&1 || { tail -40 "$log" >&2; echo "moddable-sdk: tool build failed, see $log" >&2; exit 1; }
tools_ok "$sdk" || { echo "moddable-sdk: tools missing after build, see $log" >&2; exit 1; }
echo "$sdk" >"$stamp"
echo "$sdk"
