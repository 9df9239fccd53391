#!/bin/sh
# Installs troupe from build dir $1 into a scratch prefix and builds a
# consumer with find_package(troupe) and with pkg-config; both must run.
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/tp-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# the systemd units (Type=notify) come with the daemon
for u in troupe.service troupe@.service; do
  grep -q '^Type=notify$' "$work/prefix/lib/systemd/system/$u"
done
cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/cm/consumer"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cc -o "$work/pc" "$src/consumer.c" $(pkg-config --cflags --libs troupe)
LD_LIBRARY_PATH="$work/prefix/lib" "$work/pc"
echo "install: find_package and pkg-config consumers built and ran"
