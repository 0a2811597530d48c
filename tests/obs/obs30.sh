#!/usr/bin/env bash
# The Easel OBS module in OBS 30 (Debian 13), from a chroot beside the Debian 12 system's OBS 29:
# builds (once, reused) the chroot with tests/obs/chroot.sh, builds the module INSIDE it against
# OBS 30's headers and libobs (bindgen with the chroot's libclang; the host's Rust toolchain is
# bind-mounted in, the target folder is target/obs30), then under the chroot's Xvfb:
#  1. frametest "cases" through libobs 30 (checked by check_frames.py, outside);
#  2. the chroot's OBS 30 with the module installed in the user plugin folder, driven from the
#     host through obs-websocket on a port of its own: ws_test.py (the filter) and
#     storyboard_test.py (the storyboard source). The generative board is not run here.
# The daemon runs outside the chroot (its socket in the work folder, bind-mounted at the same
# path); the daemon kill/restart that the tests ask for goes through request files that a helper
# loop here answers. Prints "ok"/"FAIL" lines (for run.sh's count) and, when the chroot cannot be
# built here (no debootstrap, no network, not root), one "skip" line and exits 0.
# Usage: obs30.sh EASELD PY (run.sh passes its own). EASEL_OBS_CHROOT overrides the chroot.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/tests/obs"
EASELD=${1:-$REPO/target/debug/easeld}
PY=${2:-$REPO/.venv/bin/python}
ROOT=${EASEL_OBS_CHROOT:-/opt/easel-obs-trixie}
# the user's own home, not $HOME (run.sh points HOME at its work folder)
UHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
CARGO_HOME=${CARGO_HOME:-$UHOME/.cargo}
RUSTUP_HOME=${RUSTUP_HOME:-$UHOME/.rustup}
T30="$REPO/target/obs30"

skip() { echo "skip OBS 30: $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mounts)"
[ -x "$CARGO_HOME/bin/cargo" ] || skip "no Rust toolchain at $CARGO_HOME to bind into the chroot"
if ! timeout 1800 "$HERE/chroot.sh" build "$ROOT" >/tmp/easel-obs30-chroot.log 2>&1; then
    tail -5 /tmp/easel-obs30-chroot.log
    skip "the Debian 13 chroot could not be built (log: /tmp/easel-obs30-chroot.log)"
fi

WORK=$(mktemp -d /tmp/easel-obs30.XXXXXX)
MOUNTS=()
WATCH_PID="" XVFB_PID="" OBS_PID=""
cleanup() {
    [ -n "$OBS_PID" ] && kill "$OBS_PID" 2>/dev/null && wait "$OBS_PID" 2>/dev/null
    [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null && wait "$XVFB_PID" 2>/dev/null
    [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
    "$HERE/daemon.sh" kill "$WORK"
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}"; done
    [ "${EASEL_OBS_KEEP:-0}" != 1 ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 143" TERM INT HUP
bind() {  # bind SRC [ro]: SRC (outside) at the same path inside the chroot
    mkdir -p "$ROOT$1" && mount --bind "$1" "$ROOT$1" && MOUNTS+=("$ROOT$1") || return 1
    [ "${2:-}" = ro ] && mount -o remount,bind,ro "$ROOT$1"
    return 0
}
for m in /proc /sys /dev /dev/pts; do
    mountpoint -q "$ROOT$m" || { mount --bind "$m" "$ROOT$m" && MOUNTS+=("$ROOT$m"); } || { echo "FAIL OBS 30: mount $m"; exit 0; }
done
PHOTOS=${EASEL_PHOTOS:-$REPO/../shared/fixtures/photos}
# the photos too (the storyboard source inside OBS reads its panels there), by their real path
bind "$WORK" && bind "$REPO" && bind "$CARGO_HOME" && bind "$RUSTUP_HOME" ro && bind "$(realpath "$PHOTOS")" ro \
    || { echo "FAIL OBS 30: bind mounts into $ROOT"; exit 0; }
IN=(chroot "$ROOT" env -i PATH="$CARGO_HOME/bin:/usr/bin:/bin" HOME="$WORK/home" CARGO_HOME="$CARGO_HOME"
    RUSTUP_HOME="$RUSTUP_HOME" XDG_RUNTIME_DIR="$WORK/xdg" LANG=C.UTF-8)
mkdir -p "$WORK/home" "$WORK/xdg" "$WORK/frames" "$WORK/ws" && chmod 700 "$WORK/xdg"
echo "   OBS in the chroot: $("${IN[@]}" pkg-config --modversion libobs)"

# ------------------------------------------------------------------ build inside the chroot
if (cd "$REPO" && timeout 1500 "${IN[@]}" sh -c "cd '$REPO' && CARGO_TARGET_DIR='$T30' cargo build -p easel-obs --offline --quiet" \
        >"$WORK/build.log" 2>&1); then echo "ok OBS 30: the module builds against OBS 30's headers"
else tail -20 "$WORK/build.log"; echo "FAIL OBS 30: cargo build -p easel-obs in the chroot"; exit 0; fi
MODULE="$T30/debug/libeasel.so"
"${IN[@]}" gcc -O2 -Wall -o "$WORK/frametest" "$HERE/frametest.c" $("${IN[@]}" pkg-config --cflags --libs libobs) \
    -lX11 -lpthread -lm >"$WORK/gcc.log" 2>&1 && echo "ok OBS 30: frametest builds against libobs 30" \
    || { cat "$WORK/gcc.log"; echo "FAIL OBS 30: build frametest"; exit 0; }

# ------------------------------------------------------------------ the daemon, outside
"$PY" "$HERE/make_frames.py" "$PHOTOS/girl-1.jpg" "$WORK" || { echo "FAIL OBS 30: test frames"; exit 0; }
cat >"$WORK/easel.toml" <<TOML
socket = "$WORK/easeld.sock"
model_dirs = ["${EASEL_MODELS:-$REPO/../shared/models}"]
threads = 1
TOML
"$HERE/daemon.sh" start "$WORK" "$EASELD" || { echo "FAIL OBS 30: start easeld"; exit 0; }
# kill/start requests from inside the chroot (frametest runs EASEL_KILL_CMD/EASEL_START_CMD there)
( while :; do
    [ -f "$WORK/req-kill" ] && { "$HERE/daemon.sh" kill "$WORK"; rm -f "$WORK/req-kill"; }
    [ -f "$WORK/req-start" ] && { "$HERE/daemon.sh" start "$WORK" "$EASELD"; rm -f "$WORK/req-start"; }
    sleep 0.1
  done ) &
WATCH_PID=$!
REQ_KILL="touch '$WORK/req-kill'; while [ -f '$WORK/req-kill' ]; do sleep 0.1; done"
REQ_START="touch '$WORK/req-start'; while [ -f '$WORK/req-start' ]; do sleep 0.1; done"

# ------------------------------------------------------------------ 1. frametest, libobs 30
timeout 300 "${IN[@]}" EASEL_KILL_CMD="$REQ_KILL" EASEL_START_CMD="$REQ_START" sh -c "cd '$WORK' && xvfb-run -a \
    '$WORK/frametest' cases '$MODULE' '$REPO/adapters/obs/data' '$WORK/frame.png' '$WORK/frames' '$WORK/easeld.sock'" \
    >"$WORK/frametest.log" 2>&1 || echo "   (frametest in OBS 30 exited $?; judged by its frames)"
grep -q "Frames pass through unchanged\|lost the Easel daemon" "$WORK/frametest.log" \
    && echo "ok OBS 30: frametest: the filter warns without a daemon" \
    || echo "FAIL OBS 30: frametest: the filter logged no warning without a daemon"
"$PY" "$HERE/check_frames.py" "$WORK/frames" "$WORK/frame.png" | sed 's/^\(ok\|FAIL\) /\1 OBS 30: frametest: /'

# ------------------------------------------------------------------ 2. OBS 30, obs-websocket
[ -f "$WORK/req-kill" ] || "$HERE/daemon.sh" kill "$WORK"
"$HERE/daemon.sh" start "$WORK" "$EASELD" || { echo "FAIL OBS 30: start easeld again"; exit 0; }
PORT=$((20000 + RANDOM % 20000))
PLUG="$WORK/home/.config/obs-studio/plugins/easel"
mkdir -p "$PLUG/bin/64bit" "$PLUG/data/locale"
cp "$MODULE" "$PLUG/bin/64bit/easel.so" && cp "$REPO/adapters/obs/data/locale/en-US.ini" "$PLUG/data/locale/"
cat >"$WORK/home/.config/obs-studio/global.ini" <<INI
[General]
FirstRun=true
EnableAutoUpdates=false
[OBSWebSocket]
FirstLoad=false
ServerEnabled=true
ServerPort=$PORT
AlertsEnabled=false
AuthRequired=false
INI
# OBS 30 keeps the websocket settings in plugin_config too
mkdir -p "$WORK/home/.config/obs-studio/plugin_config/obs-websocket"
cat >"$WORK/home/.config/obs-studio/plugin_config/obs-websocket/config.json" <<JSON
{"alerts_enabled": false, "auth_required": false, "first_load": false, "server_enabled": true, "server_password": "", "server_port": $PORT}
JSON
DISP=:$((300 + RANDOM % 300))
"${IN[@]}" Xvfb "$DISP" -screen 0 1280x1024x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
sleep 1
"${IN[@]}" DISPLAY="$DISP" timeout 600 obs --multi --disable-missing-files-check --minimize-to-tray \
    >"$WORK/obs.log" 2>&1 &
OBS_PID=$!
EASEL_OBS_WS_PORT=$PORT timeout 200 "$PY" "$HERE/ws_test.py" "$WORK/frame.png" "$WORK/ws" "$WORK/easeld.sock" \
    "'$HERE/daemon.sh' kill '$WORK'" "'$HERE/daemon.sh' start '$WORK' '$EASELD'" >"$WORK/ws.out" 2>&1
sed -n 's/^\(ok\|FAIL\) /\1 OBS 30: ws_test: /p' "$WORK/ws.out"
grep -q '^websocket checks:' "$WORK/ws.out" || { tail -5 "$WORK/ws.out"; echo "FAIL OBS 30: ws_test.py did not finish"; }
mkdir -p "$WORK/sb"
EASEL_OBS_WS_PORT=$PORT timeout 300 "$PY" "$HERE/storyboard_test.py" "$PHOTOS" \
    "$WORK/sb" "$WORK/easeld.sock" "'$HERE/daemon.sh' kill '$WORK'" "'$HERE/daemon.sh' start '$WORK' '$EASELD'" \
    >"$WORK/sb.out" 2>&1
sed -n 's/^\(ok\|FAIL\) /\1 OBS 30: storyboard_test: /p' "$WORK/sb.out"
grep -q '^storyboard checks:' "$WORK/sb.out" || { tail -5 "$WORK/sb.out"; echo "FAIL OBS 30: storyboard_test.py did not finish"; }
grep -q "\[easel\] module" "$WORK/home/.config/obs-studio/logs/"*.txt 2>/dev/null \
    && echo "ok OBS 30: the module loaded from the user plugin folder ($(grep -ho 'module [0-9.]* loaded (built against libobs [0-9.]*)' "$WORK/home/.config/obs-studio/logs/"*.txt | head -1))" \
    || echo "FAIL OBS 30: OBS log: the Easel module was not loaded from the user plugin folder"
mkdir -p "$REPO/target/obs30" && cp "$WORK"/frames/*.png "$WORK"/ws/*.png "$WORK"/sb/*.png "$REPO/target/obs30/" 2>/dev/null
exit 0
