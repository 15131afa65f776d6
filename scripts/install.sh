#!/usr/bin/env bash
# Installs libipcring for C users:
#
#   scripts/install.sh --prefix /usr/local        (or PREFIX=/usr/local scripts/install.sh)
#
# puts in place
#   PREFIX/lib/libipcring.so.X.Y.Z   the shared library, SONAME libipcring.so.0.Y (0.x) / .so.X
#   PREFIX/lib/libipcring.so.0.Y  -> libipcring.so.X.Y.Z   (what programs load at run time)
#   PREFIX/lib/libipcring.so      -> libipcring.so.0.Y     (what `-lipcring` links against)
#   PREFIX/lib/libipcring.a          the static library
#   PREFIX/include/ipcring.h         the header
#   PREFIX/lib/pkgconfig/ipcring.pc  for `cc prog.c $(pkg-config --cflags --libs ipcring)`
#                                    and `cc prog.c $(pkg-config --static --cflags --libs ipcring)`
#   PREFIX/lib/pkgconfig/ipcring-static.pc   the archive by path, for a link step of its own
#
# The installed shared library is stripped (`strip --strip-unneeded`: no debug sections; the
# dynamic symbols, every ipcring_ call, stay). Unless PREFIX is /usr or /usr/local, the script
# ends by printing the PKG_CONFIG_PATH and run-time lines a user needs.
#
# Options:
#   --prefix DIR   where to install (default: $PREFIX, else /usr/local)
#   --destdir DIR  stage under DIR (for packagers); the .pc still names PREFIX
#   --from DIR     take libipcring.so/.a from DIR instead of running `cargo build --release`
#                  (the C tests pass the directory of the library they were built with)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-/usr/local}"
destdir="${DESTDIR:-}"
from=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#*=}"; shift ;;
        --destdir) destdir="$2"; shift 2 ;;
        --destdir=*) destdir="${1#*=}"; shift ;;
        --from) from="$2"; shift 2 ;;
        --from=*) from="${1#*=}"; shift ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$prefix" in
    /*) ;;
    *) prefix="$(pwd)/$prefix" ;;
esac

version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -n1)"
major="${version%%.*}"
rest="${version#*.}"
minor="${rest%%.*}"
if [ "$major" = 0 ]; then soname="libipcring.so.0.$minor"; else soname="libipcring.so.$major"; fi

if [ -z "$from" ]; then
    (cd "$here" && cargo build --release -p ipcring-capi)
    from="$here/target/release"
fi
for f in libipcring.so libipcring.a; do
    [ -f "$from/$f" ] || { echo "install.sh: $from/$f not found (build with cargo build --release -p ipcring-capi)" >&2; exit 1; }
done

lib="$destdir$prefix/lib"
inc="$destdir$prefix/include"
pc="$lib/pkgconfig"
mkdir -p "$lib" "$inc" "$pc"
# -C: leave a file that is already identical alone, so re-installing does not touch a library
# that running programs have mapped, nor bump timestamps that make rebuild C programs.
# Strip a copy, then install that: the installed file has no debug sections, and -C still
# sees an unchanged library as unchanged.
stripped="$(mktemp)"
pcfile="$(mktemp)"
trap 'rm -f "$stripped" "$pcfile"' EXIT
cp "$from/libipcring.so" "$stripped"
strip --strip-unneeded "$stripped"
install -C -m 0755 "$stripped" "$lib/libipcring.so.$version"
ln -sfn "libipcring.so.$version" "$lib/$soname"
ln -sfn "$soname" "$lib/libipcring.so"
install -C -m 0644 "$from/libipcring.a" "$lib/libipcring.a"
install -C -m 0644 "$here/include/ipcring.h" "$inc/ipcring.h"
syslibs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
# --static: Cflags.private comes before Libs in `pkg-config --static --cflags --libs`, so the
# -Wl,-Bstatic there makes -lipcring pick libipcring.a; Libs.private turns -Bdynamic back on
# for the system libraries. (`pkg-config --static --libs` alone still says -lipcring, which the
# linker resolves to the .so: a link step of its own uses ipcring-static.pc.)
cat > "$pcfile" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: ipcring
Description: Lock-free message ring in POSIX shared memory for C and Rust processes
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lipcring
Cflags.private: -Wl,-Bstatic
Libs.private: -Wl,-Bdynamic $syslibs
PC
install -C -m 0644 "$pcfile" "$pc/ipcring.pc"
cat > "$pcfile" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: ipcring-static
Description: libipcring linked statically (the archive by path, then the system libraries)
Version: $version
Cflags: -I\${includedir}
Libs: \${libdir}/libipcring.a $syslibs
PC
install -C -m 0644 "$pcfile" "$pc/ipcring-static.pc"
echo "installed libipcring $version under $destdir$prefix ($soname)"
case "$prefix" in
    /usr|/usr/|/usr/local|/usr/local/) ;;
    *)
        echo "$prefix is not searched by pkg-config nor by the dynamic loader; before building:"
        echo "  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig"
        echo "and at run time, link with -Wl,-rpath,$prefix/lib or export LD_LIBRARY_PATH=$prefix/lib"
        ;;
esac
