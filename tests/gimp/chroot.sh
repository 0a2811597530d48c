#!/usr/bin/env bash
# Builds (once) the Debian 13 chroot that holds GIMP 3 for the GIMP adapter tests; reused when
# present. Debian 12 has only GIMP 2.10, and installing Debian 13's GIMP onto the host would upgrade
# libc, so GIMP runs from this chroot. Usage: chroot.sh build ROOT. Needs root.
set -euo pipefail
ROOT=${2:-${EASEL_GIMP_CHROOT:-/opt/easel-gimp-trixie}}
MIRROR=${EASEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKGS="gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4 xvfb xauth"

mounted() { mountpoint -q "$1"; }

case "${1:-}" in
build)
    if [ -f "$ROOT/.easel-ready" ]; then echo "chroot ready: $ROOT"; exit 0; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
        rm -rf "$ROOT"
        debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
    fi
    cleanup() { for m in sys dev proc; do mounted "$ROOT/$m" && umount "$ROOT/$m"; done; true; }
    trap cleanup EXIT
    for m in proc dev sys; do mounted "$ROOT/$m" || mount --bind "/$m" "$ROOT/$m"; done
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
    chroot "$ROOT" gimp-console-3.0 --version
    touch "$ROOT/.easel-ready"
    echo "chroot built: $ROOT"
    ;;
*)
    echo "usage: $0 build [ROOT]" >&2; exit 2 ;;
esac
