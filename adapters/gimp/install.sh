#!/usr/bin/env sh
# Installs the Easel GIMP 3 plug-in: copies adapters/gimp/easel-gimp plus the easel_client
# package into DEST/easel-gimp/ (DEST: GIMP's plug-ins folder, default
# ~/.config/GIMP/3.0/plug-ins). The result is self-contained: copying DEST/easel-gimp anywhere
# GIMP looks for plug-ins is the whole installation.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT="$HERE/../python/easel_client"
DEST=${1:-${XDG_CONFIG_HOME:-$HOME/.config}/GIMP/3.0/plug-ins}
[ -f "$CLIENT/client.py" ] || { echo "install.sh: easel_client not found at $CLIENT" >&2; exit 1; }
mkdir -p "$DEST"
rm -rf "$DEST/easel-gimp"
mkdir "$DEST/easel-gimp"
cp "$HERE/easel-gimp/easel-gimp.py" "$HERE/easel-gimp/easel_gimp_ops.py" "$DEST/easel-gimp/"
mkdir "$DEST/easel-gimp/easel_client"
cp "$CLIENT"/*.py "$DEST/easel-gimp/easel_client/"
chmod 755 "$DEST/easel-gimp/easel-gimp.py"
echo "installed $DEST/easel-gimp"
