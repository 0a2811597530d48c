#!/usr/bin/env bash
# Builds (once) the Debian 13 chroot that holds GIMP 3 (and Krita 5.2) for the adapter tests;
# reused when present. Debian 12 has only GIMP 2.10 and Krita 5.1, and installing Debian 13's onto
# the host would upgrade libc, so they run from this chroot. Usage: chroot.sh build ROOT, or
# chroot.sh mirror (prints the Debian mirror it would use). Needs root.
#
# The mirror is the machine's own: the first Debian archive URI in its apt sources (deb822
# .sources files or one-line .list files), so the chroot builds wherever apt works here.
# EASEL_DEBIAN_MIRROR overrides it; without any source, deb.debian.org.
set -euo pipefail
ROOT=${2:-${EASEL_GIMP_CHROOT:-/opt/easel-gimp-trixie}}
PKGS="gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4 xvfb xauth"
# Krita 5.2 for the second Krita version the Krita tests run (tests/krita/run.sh): added to an
# existing chroot on demand with "chroot.sh krita ROOT".
KRITA_PKGS="krita python3-pyqt5 python3-pyqt5.sip libgl1-mesa-dri libegl-mesa0"

apt_mirror() {
    # deb822 first (URIs: lines of stanzas whose Suites are not -security), then one-line lists.
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk 'BEGIN{RS=""; FS="\n"}
            { u=""; sec=0
              for (i = 1; i <= NF; i++) {
                  if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, a, " "); u = a[1] }
                  if ($i ~ /^Suites:/ && $i ~ /-security/) sec = 1
                  if ($i ~ /^Enabled:[ \t]*no/) sec = 1
              }
              if (u != "" && !sec) { print u; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /-security/ {
                for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    echo "http://deb.debian.org/debian"
}
MIRROR=${EASEL_DEBIAN_MIRROR:-$(apt_mirror)}

mounted() { mountpoint -q "$1"; }

in_chroot_install() {  # packages...
    cleanup() { for m in sys dev proc; do mounted "$ROOT/$m" && umount "$ROOT/$m"; done; true; }
    trap cleanup EXIT
    for m in proc dev sys; do mounted "$ROOT/$m" || mount --bind "/$m" "$ROOT/$m"; done
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

case "${1:-}" in
mirror)
    echo "$MIRROR" ;;
build)
    if [ -f "$ROOT/.easel-ready" ]; then echo "chroot ready: $ROOT"; exit 0; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
        rm -rf "$ROOT"
        echo "debootstrap from $MIRROR"
        debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
    fi
    # shellcheck disable=SC2086
    in_chroot_install $PKGS
    chroot "$ROOT" gimp-console-3.0 --version
    touch "$ROOT/.easel-ready"
    echo "chroot built: $ROOT"
    ;;
krita)
    "$0" build "$ROOT"
    if [ -f "$ROOT/.easel-krita-ready" ]; then echo "krita ready: $ROOT"; exit 0; fi
    # shellcheck disable=SC2086
    in_chroot_install $KRITA_PKGS
    chroot "$ROOT" sh -c 'ls /usr/bin/krita /usr/bin/kritarunner'
    touch "$ROOT/.easel-krita-ready"
    echo "krita added: $ROOT"
    ;;
*)
    echo "usage: $0 build|krita [ROOT] | $0 mirror" >&2; exit 2 ;;
esac
