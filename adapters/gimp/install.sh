#!/usr/bin/env sh
# Installs the Easel GIMP 3 plug-in: copies adapters/gimp/easel-gimp plus the easel_client
# package into DEST/easel-gimp/. The result is self-contained: copying DEST/easel-gimp anywhere
# GIMP looks for plug-ins is the whole installation.
#
# With DEST given, only there. Without it, into GIMP 3's own per-version user folders that exist:
# ${XDG_CONFIG_HOME:-~/.config}/GIMP/3.*/plug-ins (GIMP from the distribution or a tarball) and
# ~/.var/app/org.gimp.GIMP/config/GIMP/3.*/plug-ins (Flatpak GIMP, when ~/.var/app/org.gimp.GIMP
# exists); with neither, ~/.config/GIMP/3.0/plug-ins. For Flatpak GIMP it says what the sandbox
# needs to reach the daemon's socket.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT="$HERE/../python/easel_client"
[ -f "$CLIENT/client.py" ] || { echo "install.sh: easel_client not found at $CLIENT" >&2; exit 1; }

install_into() {  # DEST: a GIMP plug-ins folder
    mkdir -p "$1"
    rm -rf "$1/easel-gimp"
    mkdir "$1/easel-gimp"
    cp "$HERE/easel-gimp/easel-gimp.py" "$HERE/easel-gimp/easel_gimp_ops.py" "$1/easel-gimp/"
    cp -r "$HERE/easel-gimp/help" "$1/easel-gimp/"   # the Help button's page
    mkdir "$1/easel-gimp/locale"   # the gettext catalogues' folder (GIMP warns without it)
    if [ -d "$HERE/easel-gimp/locale" ]; then cp -r "$HERE/easel-gimp/locale/." "$1/easel-gimp/locale/"; fi
    mkdir "$1/easel-gimp/easel_client"
    cp "$CLIENT"/*.py "$1/easel-gimp/easel_client/"
    chmod 755 "$1/easel-gimp/easel-gimp.py"
    echo "installed $1/easel-gimp"
}

if [ $# -gt 0 ]; then
    install_into "$1"
    exit 0
fi

CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}
FLATPAK_APP="$HOME/.var/app/org.gimp.GIMP"
found=0
for d in "$CONFIG"/GIMP/3.*/; do          # GIMP's own per-version folders (3.0, 3.2, ...)
    [ -d "$d" ] || continue
    install_into "${d%/}/plug-ins"; found=1
done
if [ -d "$FLATPAK_APP" ]; then
    flat=0
    for d in "$FLATPAK_APP"/config/GIMP/3.*/; do
        [ -d "$d" ] || continue
        install_into "${d%/}/plug-ins"; flat=1
    done
    [ "$flat" = 1 ] || install_into "$FLATPAK_APP/config/GIMP/3.0/plug-ins"
    found=1
    cat <<'EOF'

Flatpak GIMP runs in a sandbox: it cannot start easeld, and it sees the daemon's socket
($XDG_RUNTIME_DIR/easel/easeld.sock) only once you allow that folder, once:
    flatpak override --user --filesystem=xdg-run/easel org.gimp.GIMP
Then start the daemon outside the sandbox before GIMP (easel serve, or the systemd user
socket unit from host/install.sh --systemd) and restart GIMP.
EOF
fi
[ "$found" = 1 ] || install_into "$CONFIG/GIMP/3.0/plug-ins"
