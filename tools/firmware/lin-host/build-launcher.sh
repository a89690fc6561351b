#!/usr/bin/env bash
# Compile the headless mc.so launcher (launcher.c next to this script).
#
#   tools/firmware/lin-host/build-launcher.sh [OUTPUT]
#
# OUTPUT defaults to /work/main/.cache/moddable/launcher. Rebuilds only when
# OUTPUT is missing or older than launcher.c or this script. Needs gcc,
# pkg-config and the GLib development files (libglib2.0-dev); nothing else.
# Prints the path of the launcher on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_file="$here/launcher.c"
output="${1:-/work/main/.cache/moddable/launcher}"

if [[ -x "$output" && "$output" -nt "$source_file" && "$output" -nt "${BASH_SOURCE[0]}" ]]; then
	echo "$output"
	exit 0
fi

command -v gcc >/dev/null || { echo "build-launcher: gcc not found" >&2; exit 1; }
command -v pkg-config >/dev/null || { echo "build-launcher: pkg-config not found" >&2; exit 1; }
if ! glib_flags="$(pkg-config --cflags --libs glib-2.0 2>/dev/null)"; then
	echo "build-launcher: glib-2.0 development files not found (apt-get install libglib2.0-dev)" >&2
	exit 1
fi

mkdir -p "$(dirname "$output")"
tmp="$output.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# shellcheck disable=SC2086 # pkg-config output is a list of flags
gcc -std=gnu11 -Wall -Wextra -O2 -o "$tmp" "$source_file" $glib_flags -ldl
mv -f "$tmp" "$output"
trap - EXIT
echo "$output"
