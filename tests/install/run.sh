#!/bin/sh
# Installs troupe from build dir $1 into a scratch prefix, then uses it the
# way a user does: consumers built with find_package(troupe) (troupe::troupe
# and troupe::troupe_static) and with pkg-config (shared, and --static), and
# the installed troupe-actor run straight from the prefix (its RUNPATH finds
# the installed libtroupe; no LD_LIBRARY_PATH). The prefix is then moved:
# the programs must still run. The MPI backend module is installed beside
# libtroupe, which does not link libmpi.
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/tp-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "install: $*" >&2; exit 1; }
unset LD_LIBRARY_PATH

cmake --install "$build" --prefix "$work/prefix" >/dev/null
pre=$work/prefix
libdir=$(dirname "$(find "$pre" -name troupe.pc)")/..
libdir=$(cd "$libdir" && pwd)
for f in troupe/troupe.h troupe/version.h troupe/payload.h; do
	[ -f "$pre/include/$f" ] || fail "$f not installed"
done
# the systemd units (Type=notify) come with the daemon
for u in troupe.service troupe@.service; do
	grep -q '^Type=notify$' "$pre/lib/systemd/system/$u" || fail "$u"
done

# The MPI backend is a module beside libtroupe (built with MPI), and
# libtroupe itself does not link libmpi (docs/cluster.md).
if readelf -d "$libdir/libtroupe.so" | grep -q 'libmpi'; then
	fail "libtroupe.so links libmpi"
fi
if [ -f "$build/framework/libtroupe-mpi.so" ]; then
	[ -f "$libdir/libtroupe-mpi.so" ] || fail "libtroupe-mpi.so not installed"
	[ "$(nm -D --defined-only "$libdir/libtroupe-mpi.so" |
		awk '$2 == "T" { print $3 }')" = tp_mpi_module ] ||
		fail "libtroupe-mpi.so exports more than tp_mpi_module"
fi

# CMake: troupe::troupe (shared) and troupe::troupe_static.
cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$pre" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cm/consumer" | grep -q '^troupe ' ||
	fail "CMake troupe::troupe consumer"
"$work/cm/consumer_static" | grep -q '^troupe ' ||
	fail "CMake troupe::troupe_static consumer"

# pkg-config: shared, then fully static against libtroupe.a.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -o "$work/pc" "$src/consumer.c" $(pkg-config --cflags --libs troupe)
LD_LIBRARY_PATH="$libdir" "$work/pc" | grep -q '^troupe ' ||
	fail "pkg-config shared consumer"
static_libs=$(pkg-config --static --libs troupe) ||
	fail "pkg-config --static --libs troupe"
cc -o "$work/pcs" "$src/consumer.c" $(pkg-config --cflags troupe) \
	-Wl,-Bstatic -ltroupe -Wl,-Bdynamic $static_libs
if readelf -d "$work/pcs" | grep -q 'libtroupe'; then
	fail "static consumer still needs libtroupe.so"
fi
"$work/pcs" | grep -q '^troupe ' || fail "pkg-config --static consumer"

# The installed programs run from the prefix, and from a moved prefix.
readelf -d "$pre/bin/troupe-actor" | grep -q 'RUNPATH.*\$ORIGIN' ||
	fail "troupe-actor has no \$ORIGIN RUNPATH"
"$pre/bin/troupe-actor" --help | grep -q '^usage: troupe-actor' ||
	fail "installed troupe-actor does not run"
mv "$pre" "$work/moved"
"$work/moved/bin/troupe-actor" --help | grep -q '^usage: troupe-actor' ||
	fail "troupe-actor does not run from a moved prefix"
echo "install: CMake (shared, static), pkg-config (shared, static) and" \
	"troupe-actor from the prefix all ran"
