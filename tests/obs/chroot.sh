#!/usr/bin/env bash
# Builds (once, reused when present) a Debian 13 chroot holding OBS Studio 30 (and libobs-dev)
# for running the Easel OBS module in a newer OBS than Debian 12's 29. A sibling of the GIMP
# chroot (tests/gimp/chroot.sh), made the same way (debootstrap from the machine's own Debian
# mirror), but separate so that installing OBS can never change what the GIMP tests run.
# Usage: chroot.sh build [ROOT] (default EASEL_OBS_CHROOT or /opt/easel-obs-trixie). Needs root.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${2:-${EASEL_OBS_CHROOT:-/opt/easel-obs-trixie}}
# What the module's build (bindgen: libclang; frametest: gcc, libX11) and the runs need.
PKGS="obs-studio libobs-dev libclang-dev clang gcc libc6-dev pkg-config libx11-dev xvfb xauth
      libgl1-mesa-dri libegl-mesa0 python3 python3-pil python3-websocket ca-certificates"
MIRROR=${EASEL_DEBIAN_MIRROR:-$("$HERE/../gimp/chroot.sh" mirror)}

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
        echo "debootstrap from $MIRROR"
        debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
    fi
    cleanup() { for m in sys dev proc; do mounted "$ROOT/$m" && umount "$ROOT/$m"; done; true; }
    trap cleanup EXIT
    for m in proc dev sys; do mounted "$ROOT/$m" || mount --bind "/$m" "$ROOT/$m"; done
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
    chroot "$ROOT" sh -c 'obs --version 2>/dev/null | head -1; pkg-config --modversion libobs'
    touch "$ROOT/.easel-ready"
    echo "chroot built: $ROOT"
    ;;
*)
    echo "usage: $0 build [ROOT]" >&2; exit 2 ;;
esac
