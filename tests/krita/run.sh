#!/usr/bin/env bash
# Krita adapter tests: the pure pixel conversions (plain Python), the adapter's core inside
# kritarunner (no display) with the real daemon, and the real Krita GUI under Xvfb driving the
# Easel docker on a real photo. Installs what it needs (Debian/Ubuntu, root), builds the plugin
# zip and installs it with Krita's own importer into a fresh HOME. Runs are judged by the
# results files the tests write; ends with "N passed, M failed" and a non-zero status on failure.
#
# Then a second Krita run reopens the .kra the first one saved and checks the Easel history in it.
#
# Then Krita 5.2 (Debian 13) from the chroot tests/gimp/chroot.sh builds (and "chroot.sh krita"
# completes), the daemon outside it: the importer, test_pixels/test_qt under its Python, the
# kritarunner API tests, and the same GUI, reopen and data-safety runs as 5.1 (the docker starts
# its daemon through a script that leaves the chroot, see "Krita 5.2 GUI" below). Each version's
# counts are printed. About 100 s, on by default: EASEL_KRITA_52=0 skips it,
# EASEL_KRITA_ONLY=5.2 runs only it (root).
#
# Generative edits: the GUI run's daemon is configured (~/.config/easel/generative.toml, 0600)
# for a local stand-in of the Gemini API (tests/generative/fake_gemini.py on 127.0.0.1) that logs
# what it was sent; the driver edits a selection from a prompt and refines it twice. Afterwards
# the API key must be nowhere under the test's HOME but in that file.
#
# Environment: EASELD (default target/debug/easeld), EASEL_KRITA_SCREENSHOT (default
# target/krita/krita-docker.png, never a tracked file: copy it to docs/images on purpose; "none"
# to skip), EASEL_KRITA_KEEP=1 keeps the work folder, EASEL_KRITA_SKIP_SAFETY=1 leaves out the
# data-safety runs (the longest). EASEL_INSTALLED_HOME and
# EASEL_INSTALLED_PREFIX (tests/install/run.sh): test a user install that host/install.sh --krita
# made instead, the plug-in in that HOME's pykrita folder and PREFIX/bin/easeld.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/tests/krita"
INSTALLED_HOME=${EASEL_INSTALLED_HOME:-}
[ -n "$INSTALLED_HOME" ] && EASELD=${EASELD:-${EASEL_INSTALLED_PREFIX:?needed with EASEL_INSTALLED_HOME}/bin/easeld}
EASELD=${EASELD:-$REPO/target/debug/easeld}
TARGET_DIR=$(dirname "$EASELD")
[ -n "$INSTALLED_HOME" ] && TARGET_DIR=$REPO/target/debug   # the test plugin is not installed
MISBEHAVE="$TARGET_DIR/libeasel_testing_misbehave.so"
SHOT=${EASEL_KRITA_SCREENSHOT:-$REPO/target/krita/krita-docker.png}
PHOTOS=${EASEL_PHOTOS:-$REPO/../shared/fixtures/photos}
MODELS=${EASEL_MODELS:-$REPO/../shared/models}
PY=/usr/bin/python3   # the system Python: Krita's Python is the same 3.11, with PyQt5 beside it

PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); echo "FAIL $1"; }
finish() {
    for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do echo "  failed: $f"; done
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

# ---------------------------------------------------------------------------------- setup
step_start=$(date +%s)
need=()
command -v krita >/dev/null 2>&1 || need+=(krita)
command -v kritarunner >/dev/null 2>&1 || need+=(krita)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v xauth >/dev/null 2>&1 || need+=(xauth)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
[ -x "$PY" ] && "$PY" -c 'import PyQt5.QtCore, PyQt5.sip' >/dev/null 2>&1 || need+=(python3-pyqt5 python3-sip)
[ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] || [ -e /usr/lib/aarch64-linux-gnu/dri/swrast_dri.so ] \
    || need+=(libgl1-mesa-dri libegl-mesa0)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq || { fail "apt-get update"; finish; }
    timeout 900 apt-get install -y -qq --no-install-recommends krita xvfb xauth xdotool python3-pyqt5 \
        python3-sip libgl1-mesa-dri libegl-mesa0 >/dev/null || { fail "apt-get install krita"; finish; }
    echo "   installed in $(( $(date +%s) - step_start )) s"
fi
[ -x "$EASELD" ] || { fail "easeld not found at $EASELD (cargo build -p easel-host and the plugins)"; finish; }
[ -e "$MISBEHAVE" ] || { fail "$MISBEHAVE not built (cargo build -p easel-testing-misbehave)"; finish; }

WORK=$(mktemp -d /tmp/easel-krita-test.XXXXXX)
export HOME="${INSTALLED_HOME:-$WORK/home}"
export XDG_RUNTIME_DIR="$WORK/runtime"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
mkdir -p "$HOME/.config" "$HOME/.local/share/krita" "$WORK/plugins"
mkdir -m 700 "$XDG_RUNTIME_DIR"
ln -s "$MISBEHAVE" "$WORK/plugins/"   # test-echo (slow, with progress) for cancel and kill tests
XPID=""
GPID=""
cleanup() {
    # Daemons the tests started (their pids are in the results files), then Xvfb: ours only.
    for f in "$WORK"/api.json "$WORK"/{gui,reopen,safety}{,52}.json; do
        [ -f "$f" ] || continue
        for pid in $("$PY" -c 'import json,sys; print(*json.load(open(sys.argv[1])).get("daemon_pids", []))' "$f" 2>/dev/null); do
            kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
        done
    done
    [ -n "$XPID" ] && kill "$XPID" 2>/dev/null && wait "$XPID" 2>/dev/null
    [ -n "$GPID" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
    [ -n "${DPID52:-}" ] && kill -0 "$DPID52" 2>/dev/null && kill -TERM "$DPID52" 2>/dev/null && wait "$DPID52" 2>/dev/null
    [ -n "${XPID52:-}" ] && kill "$XPID52" 2>/dev/null && wait "$XPID52" 2>/dev/null
    local i
    for ((i = ${#MOUNTS52[@]} - 1; i >= 0; i--)); do  # the chroot's bind mounts this run made
        umount "${MOUNTS52[$i]}" 2>/dev/null || umount -l "${MOUNTS52[$i]}" 2>/dev/null
    done
    if [ "${EASEL_KRITA_KEEP:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ROOT52=${EASEL_GIMP_CHROOT:-/opt/easel-gimp-trixie}
MOUNTS52=()
bind52() {  # bind SRC (outside) to the same path inside the chroot; a mount another run holds is left to it
    mkdir -p "$ROOT52$1"
    if mountpoint -q "$ROOT52$1"; then return 0; fi
    mount --bind "$1" "$ROOT52$1" && MOUNTS52+=("$ROOT52$1")
}

write_config() {  # $1: socket path, $2: config file
    cat > "$2" <<EOF
socket = "$1"
plugin_dirs = ["$WORK/plugins"]
model_dirs = ["$MODELS"]
EOF
}

# judge RESULTS.json LABEL: adds its checks to the totals
judge() {
    local out
    if [ ! -s "$1" ]; then fail "$2: no results file ($1)"; return; fi
    out=$("$PY" - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
checks = d.get("checks", [])
print(sum(c["ok"] for c in checks), sum(not c["ok"] for c in checks))
for c in checks:
    if not c["ok"]:
        print("FAILED\t" + c["name"] + "\t" + c.get("detail", "").replace("\n", " | ")[:600])
for k, v in d.get("timings_ms", {}).items():
    print(f"TIMING\t{k}\t{v}")
EOF
) || { fail "$2: unreadable results file"; return; }
    local counts p f
    counts=$(echo "$out" | head -1)
    p=${counts% *}
    f=${counts#* }
    PASSED=$((PASSED + p))
    while IFS=$'\t' read -r kind name detail; do
        case "$kind" in
            FAILED) FAILED=$((FAILED + 1)); FAILURES+=("$2: $name"); echo "FAIL $2: $name: $detail" ;;
            TIMING) echo "   time: $name: $detail ms" ;;
        esac
    done < <(echo "$out" | tail -n +2)
    echo "   $2: $p passed, $f failed"
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then fail "$2: no checks ran"; fi
}

# ---------------------------------------------------------------------------------- the plugin
PYKRITA="$HOME/.local/share/krita/pykrita"
if [ -n "$INSTALLED_HOME" ]; then
echo "== the plug-in host/install.sh installed into $PYKRITA, enabled in kritarc"
[ -f "$PYKRITA/easel_krita/easel_client/client.py" ] && grep -qx 'enable_easel_krita=true' \
    "$HOME/.config/kritarc" && pass || fail "the installed plug-in in $PYKRITA, enabled"
else
echo "== building the plugin zip and installing it with Krita's importer"
ZIP=$("$PY" "$REPO/adapters/krita/build_zip.py" --out "$WORK/dist/easel_krita.zip") \
    && pass || { fail "build_zip.py"; finish; }
if timeout 60 "$PY" /usr/share/krita/pykrita/plugin_importer/plugin_importer.py "$ZIP" \
        "$HOME/.local/share/krita" | grep -q "Imported plugin: Easel" \
        && [ -f "$HOME/.local/share/krita/pykrita/easel_krita/easel_client/client.py" ]; then
    pass
else
    fail "Krita's plugin importer installs the zip (with easel_client inside)"
fi
fi

# ---------------------------------------------------------------------------------- the GUI suite
# One local Gemini stand-in (tests/generative/fake_gemini.py on 127.0.0.1) for both versions' GUI
# runs: the daemon (always outside the chroot) reaches it; the drivers read what it was sent from
# its log, counting from before each request.
GEN_KEY="AIza-easel-krita-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
GEN_LOG="$WORK/gen-requests.jsonl"
start_gemini() {  # once
    [ -n "$GPID" ] && return 0
    echo "== a local Gemini stand-in for the generative operations"
    "$PY" "$REPO/tests/generative/fake_gemini.py" --key "$GEN_KEY" --log "$GEN_LOG" \
        --port-file "$WORK/gen.port" >"$WORK/gen.log" 2>&1 &
    GPID=$!
    for _ in $(seq 100); do [ -s "$WORK/gen.port" ] && break; sleep 0.1; done
    if [ -s "$WORK/gen.port" ]; then pass; else fail "the local Gemini stand-in did not start"; cat "$WORK/gen.log"; fi
}
gen_config() {  # HOME: the daemon started for that HOME reads its generative.toml (0600)
    [ -s "$WORK/gen.port" ] || return 0
    mkdir -p "$1/.config/easel"
    (umask 077; printf '[gemini]\napi_key = "%s"\nmodel = "gemini-2.5-flash-image"\nbase_url = "http://127.0.0.1:%s"\n' \
        "$GEN_KEY" "$(cat "$WORK/gen.port")" > "$1/.config/easel/generative.toml")
}

# gui_suite V: the GUI driver, the reopen run and the data-safety run in one Krita version, each
# a fresh Krita started by krun (defined per version: krun SECONDS ENV=VALUE... runs krita with
# them). Uses G_HOME (that Krita's HOME), G_RT (its XDG_RUNTIME_DIR), G_DRV (the drivers'
# folder), G_EASELD (what the docker starts), G_PHOTOS, G_DISPLAY, G_SHOT (a screenshot or "").
# Labels and files get V's suffix ("" for 5.1, " 5.2" / "52" for 5.2).
gui_suite() {
    local v=$1 sfx="" lbl="" rc t0 leaks
    [ "$v" = 5.2 ] && { sfx=52; lbl=" 5.2"; }
    start_gemini
    gen_config "$G_HOME"
    echo "== Krita$lbl GUI under Xvfb with the Easel docker"
    write_config "$G_RT/gui/easeld.sock" "$WORK/gui$sfx.toml"
    local genv=(EASEL_SOCKET="$G_RT/gui/easeld.sock" EASELD="$G_EASELD" EASEL_CONFIG="$WORK/gui$sfx.toml"
                EASEL_PHOTOS="$G_PHOTOS" DISPLAY="$G_DISPLAY" EASEL_KRITA_EXPECT_VERSION="$v")
    t0=$(date +%s)
    mkdir -p "$WORK/kra$sfx"
    krun 600 "${genv[@]}" EASEL_KRITA_TEST="$WORK/gui$sfx.json" EASEL_KRITA_TEST_DRIVER="$G_DRV/gui_driver.py" \
        EASEL_SCREENSHOT="$G_SHOT" EASEL_KRITA_WORK="$WORK/kra$sfx" \
        EASEL_GEN_LOG="$GEN_LOG" EASEL_GEN_KEY="$GEN_KEY" >"$WORK/gui$sfx.log" 2>&1
    rc=$?
    echo "   krita$lbl exited $rc after $(( $(date +%s) - t0 )) s"
    [ "$rc" -eq 124 ] && fail "krita$lbl GUI run timed out"
    judge "$WORK/gui$sfx.json" "gui$lbl"
    [ -s "$WORK/gui$sfx.json" ] || tail -40 "$WORK/gui$sfx.log"
    # The key only in the configuration file: not in any log, document or setting Krita, the
    # adapter or the daemon wrote under HOME, nor in Krita's output.
    leaks=$(grep -rlF --exclude=generative.toml "$GEN_KEY" "$G_HOME" "$WORK/gui$sfx.log" "$GEN_LOG" 2>/dev/null)
    if [ -s "$GEN_LOG" ] && [ -z "$leaks" ]; then pass; else fail "the API key leaked$lbl into: ${leaks:-(no requests logged)}"; fi
    [ -n "$G_SHOT" ] && [ -s "$G_SHOT" ] && echo "   screenshot: $G_SHOT ($(stat -c %s "$G_SHOT") bytes)"

    echo "== Krita$lbl GUI again: reopen the saved .kra, the Easel history comes back"
    t0=$(date +%s)
    krun 300 "${genv[@]}" EASEL_KRITA_TEST="$WORK/reopen$sfx.json" EASEL_KRITA_FIRST_RESULTS="$WORK/gui$sfx.json" \
        EASEL_KRITA_TEST_DRIVER="$G_DRV/gui_reopen.py" >"$WORK/reopen$sfx.log" 2>&1
    rc=$?
    echo "   krita$lbl exited $rc after $(( $(date +%s) - t0 )) s"
    [ "$rc" -eq 124 ] && fail "krita$lbl reopen run timed out"
    judge "$WORK/reopen$sfx.json" "reopen$lbl"
    [ -s "$WORK/reopen$sfx.json" ] || tail -40 "$WORK/reopen$sfx.log"

    if [ "${EASEL_KRITA_SKIP_SAFETY:-0}" = 1 ]; then
        echo "== Krita$lbl GUI: data safety skipped (EASEL_KRITA_SKIP_SAFETY=1)"
        return
    fi
    echo "== Krita$lbl GUI: data safety (the daemon, its socket and the document changing under a job)"
    write_config "$G_RT/safety/easeld.sock" "$WORK/safety$sfx.toml"
    t0=$(date +%s)
    krun 300 EASEL_SOCKET="$G_RT/safety/easeld.sock" EASELD="$G_EASELD" EASEL_CONFIG="$WORK/safety$sfx.toml" \
        DISPLAY="$G_DISPLAY" EASEL_KRITA_TEST="$WORK/safety$sfx.json" \
        EASEL_KRITA_TEST_DRIVER="$G_DRV/safety_tests.py" >"$WORK/safety$sfx.log" 2>&1
    rc=$?
    echo "   krita$lbl exited $rc after $(( $(date +%s) - t0 )) s"
    [ "$rc" -eq 124 ] && fail "krita$lbl safety run timed out"
    judge "$WORK/safety$sfx.json" "safety$lbl"
    [ -s "$WORK/safety$sfx.json" ] && "$PY" -c 'import json,sys; print("   safety cases:", json.load(open(sys.argv[1])).get("cases"))' "$WORK/safety$sfx.json"
    [ -s "$WORK/safety$sfx.json" ] || tail -40 "$WORK/safety$sfx.log"
}

if [ "${EASEL_KRITA_ONLY:-}" != 5.2 ]; then   # EASEL_KRITA_ONLY=5.2: only the Krita 5.2 part
# ---------------------------------------------------------------------------------- unit tests
echo "== pixel conversions (plain Python)"
ulog="$WORK/unit.log"
timeout 120 "$PY" -m unittest -v "$HERE/test_pixels.py" >"$ulog" 2>&1
up=$(grep -c '\.\.\. ok$' "$ulog")
uf=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$ulog")
PASSED=$((PASSED + up))
if [ "$uf" -gt 0 ] || [ "$up" -eq 0 ]; then
    FAILED=$((FAILED + (uf > 0 ? uf : 1))); FAILURES+=("test_pixels.py"); tail -30 "$ulog"
fi
echo "   $up passed, $uf failed"

echo "== the .action and .desktop strings in the template catalogue (adapters/i18n/extract.py)"
ilog="$WORK/i18n.log"
timeout 120 "$PY" -m unittest -v "$HERE/test_i18n_resources.py" >"$ilog" 2>&1
up=$(grep -c '\.\.\. ok$' "$ilog")
uf=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$ilog")
PASSED=$((PASSED + up))
if [ "$uf" -gt 0 ] || [ "$up" -eq 0 ]; then
    FAILED=$((FAILED + (uf > 0 ? uf : 1))); FAILURES+=("test_i18n_resources.py"); tail -30 "$ilog"
fi
echo "   $up passed, $uf failed"

# ---------------------------------------------------------------------------------- Qt 5 and 6
# The Qt-only modules (qt, forms, history) under PyQt5 (the system's, as in Krita 5) and PyQt6
# (from PyPI into the repository's .venv, as Krita 6 would bring).
qt_tests() {  # LABEL PYTHON QT
    local log="$WORK/qt$3.log" up uf
    QT_QPA_PLATFORM=offscreen EASEL_QT=$3 EASEL_EXPECT_QT=$3 timeout 120 "$2" -m unittest -v \
        "$HERE/test_qt.py" >"$log" 2>&1
    up=$(grep -c '\.\.\. ok$' "$log"); uf=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$log")
    PASSED=$((PASSED + up))
    if [ "$uf" -gt 0 ] || [ "$up" -eq 0 ]; then
        FAILED=$((FAILED + (uf > 0 ? uf : 1))); FAILURES+=("test_qt.py under $1"); tail -30 "$log"
    fi
    echo "   $1: $up passed, $uf failed"
}
echo "== Qt-only modules under PyQt5 and PyQt6"
qt_tests PyQt5 "$PY" 5
VENV_PY="$REPO/.venv/bin/python"
if [ -x "$VENV_PY" ]; then
    "$VENV_PY" -c 'import PyQt6.QtWidgets' >/dev/null 2>&1 \
        || timeout 600 "$VENV_PY" -m pip install --quiet --disable-pip-version-check PyQt6 >/dev/null 2>&1
    if "$VENV_PY" -c 'import PyQt6.QtWidgets' >/dev/null 2>&1; then
        qt_tests PyQt6 "$VENV_PY" 6
    else
        fail "PyQt6 could not be installed into .venv"
    fi
else
    fail "no .venv (run .ci/setup) for the PyQt6 tests"
fi

# ---------------------------------------------------------------------------------- kritarunner
echo "== adapter core inside kritarunner, with the real daemon"
API_SOCK="$XDG_RUNTIME_DIR/api/easeld.sock"
write_config "$API_SOCK" "$WORK/api.toml"
t0=$(date +%s)
QT_QPA_PLATFORM=offscreen EASEL_SOCKET="$API_SOCK" EASELD="$EASELD" EASEL_CONFIG="$WORK/api.toml" \
    EASEL_PHOTOS="$PHOTOS" PYTHONPATH="$PYKRITA:$HERE" \
    timeout -k 10 300 kritarunner -s api_tests -f main "$WORK/api.json" >"$WORK/api.log" 2>&1
rc=$?
echo "   kritarunner exited $rc after $(( $(date +%s) - t0 )) s"
[ "$rc" -eq 124 ] && fail "kritarunner timed out"
judge "$WORK/api.json" "api"
[ -s "$WORK/api.json" ] || tail -40 "$WORK/api.log"

# ---------------------------------------------------------------------------------- the GUI
[ -n "$INSTALLED_HOME" ] || printf '[python]\nenable_easel_krita=true\n' > "$HOME/.config/kritarc"
DISPLAY_NUM=""
for n in $(seq 91 140); do
    [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ] || { DISPLAY_NUM=$n; break; }
done
Xvfb ":$DISPLAY_NUM" -screen 0 1280x1024x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XPID=$!
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ] && break; sleep 0.1; done
krun() { local t=$1; shift; env "$@" timeout -k 10 "$t" krita --nosplash; }
G_HOME=$HOME G_RT=$XDG_RUNTIME_DIR G_DRV=$HERE G_EASELD=$EASELD G_PHOTOS=$PHOTOS G_DISPLAY=":$DISPLAY_NUM"
if [ "$SHOT" = none ]; then G_SHOT=""; else G_SHOT="$SHOT"; fi
gui_suite 5.1

fi  # the Krita 5.1 part

# ---------------------------------------------------------------------------------- Krita 5.2
# The same plug-in in Krita 5.2 (Debian 13), from the chroot tests/gimp/run.sh builds for GIMP 3
# (tests/gimp/chroot.sh krita adds Krita to it), with the daemon outside: the work folder is
# bind-mounted into the chroot at the same path, the daemon's socket inside it. The plug-in is
# installed by Krita 5.2's own importer into a second fresh HOME.
P51=$PASSED; F51=$FAILED
K52=${EASEL_KRITA_52:-1}
[ -n "$INSTALLED_HOME" ] && K52=0   # tests/install/run.sh checks the install, in Krita 5.1
if [ "$K52" = 1 ]; then
k52_start=$(date +%s)
echo "== Krita 5.2 in the Debian 13 chroot $ROOT52"
if [ "$(id -u)" != 0 ]; then
    fail "Krita 5.2: needs root (chroot, bind mounts); EASEL_KRITA_52=0 skips it"
elif timeout 2400 "$REPO/tests/gimp/chroot.sh" krita "$ROOT52" >"$WORK/chroot52.log" 2>&1; then
    pass
    echo "   $(tail -1 "$WORK/chroot52.log") (after $(( $(date +%s) - k52_start )) s)"
else
    tail -30 "$WORK/chroot52.log"; fail "Krita 5.2: building the chroot (tests/gimp/chroot.sh krita)"
fi
if [ "$(id -u)" = 0 ] && [ -f "$ROOT52/.easel-krita-ready" ]; then
chmod 755 "$WORK"
ok52=1
for m in /proc /sys /dev /dev/shm "$WORK"; do bind52 "$m" || { fail "Krita 5.2: bind-mounting $m"; ok52=0; }; done
[ "$ok52" = 1 ] && {
HOME52="$WORK/home52"
SRC52="$WORK/src52"   # the adapter and its tests, laid out as in the repository
mkdir -p "$HOME52/.config" "$HOME52/.local/share/krita" "$SRC52/adapters" "$SRC52/tests" "$WORK/photos52"
mkdir -m 700 "$WORK/runtime52" "$WORK/run52"
cp -r "$REPO/adapters/krita" "$REPO/adapters/python" "$SRC52/adapters/"
cp -r "$HERE" "$SRC52/tests/"
find "$SRC52" -name __pycache__ -prune -exec rm -rf {} +
cp "$PHOTOS/girl-1.jpg" "$WORK/photos52/"
in52() {  # SECONDS COMMAND...: inside the chroot, a clean environment and HOME52, under timeout
    local t=$1; shift
    timeout -k 10 "$t" chroot "$ROOT52" env -i PATH=/usr/bin:/bin HOME="$HOME52" XDG_RUNTIME_DIR="$WORK/runtime52" \
        XDG_CONFIG_HOME="$HOME52/.config" XDG_DATA_HOME="$HOME52/.local/share" \
        XDG_CACHE_HOME="$HOME52/.cache" LANG=C.UTF-8 "$@"
}
if in52 60 python3 /usr/share/krita/pykrita/plugin_importer/plugin_importer.py "${ZIP:-none}" \
        "$HOME52/.local/share/krita" | grep -q "Imported plugin: Easel" \
        && [ -f "$HOME52/.local/share/krita/pykrita/easel_krita/easel_client/client.py" ]; then
    pass
else
    fail "Krita 5.2: its plugin importer installs the zip"
fi
PYKRITA52="$HOME52/.local/share/krita/pykrita"

echo "== Krita 5.2: pixel conversions and the Qt-only modules (the chroot's Python and PyQt5)"
for t in test_pixels test_qt; do
    log="$WORK/$t-52.log"
    in52 120 QT_QPA_PLATFORM=offscreen EASEL_QT=5 EASEL_EXPECT_QT=5 \
        python3 -m unittest discover -v -s "$SRC52/tests/krita" -p "$t.py" >"$log" 2>&1
    up=$(grep -c '\.\.\. ok$' "$log"); uf=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$log")
    PASSED=$((PASSED + up))
    if [ "$uf" -gt 0 ] || [ "$up" -eq 0 ]; then
        FAILED=$((FAILED + (uf > 0 ? uf : 1))); FAILURES+=("Krita 5.2: $t.py"); tail -30 "$log"
    fi
    echo "   $t ($(in52 20 python3 -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')): $up passed, $uf failed"
done

SOCK52="$WORK/run52/easeld.sock"
write_config "$SOCK52" "$WORK/k52.toml"
DPID52=""
start52() {  # the daemon, outside the chroot
    rm -f "$SOCK52"
    "$EASELD" --config "$WORK/k52.toml" >>"$WORK/easeld52.log" 2>&1 &
    DPID52=$!
    for _ in $(seq 200); do [ -S "$SOCK52" ] && break; sleep 0.05; done
    [ -S "$SOCK52" ] && pass || { fail "Krita 5.2: easeld did not create $SOCK52"; tail -20 "$WORK/easeld52.log"; }
}
stop52() {  # the test shut the daemon down through the adapter: it must be gone
    local i
    for i in $(seq 100); do kill -0 "$DPID52" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DPID52" 2>/dev/null; then
        fail "Krita 5.2 $1: easeld still running after the test shut it down"
        kill -TERM "$DPID52" 2>/dev/null
    else
        pass
    fi
    wait "$DPID52" 2>/dev/null; DPID52=""
}
# Krita sees the daemon only through its socket: no daemon binary inside the chroot.
env52=(EASEL_SOCKET="$SOCK52" EASELD=/nonexistent/easeld EASEL_KRITA_DAEMON_OUTSIDE=1
       EASEL_KRITA_EXPECT_VERSION=5.2 EASEL_PHOTOS="$WORK/photos52")

echo "== Krita 5.2: adapter core inside kritarunner, the daemon outside the chroot"
start52
t0=$(date +%s)
in52 300 QT_QPA_PLATFORM=offscreen "${env52[@]}" \
    PYTHONPATH="$PYKRITA52:$SRC52/tests/krita" \
    kritarunner -s api_tests -f main "$WORK/api52.json" >"$WORK/api52.log" 2>&1
rc=$?
echo "   kritarunner 5.2 exited $rc after $(( $(date +%s) - t0 )) s"
[ "$rc" -eq 124 ] && fail "Krita 5.2: kritarunner timed out"
judge "$WORK/api52.json" "api 5.2"
[ -s "$WORK/api52.json" ] || tail -40 "$WORK/api52.log"
stop52 api

echo "== Krita 5.2 GUI under Xvfb (the chroot's): the same GUI, reopen and safety runs as 5.1"
printf '[python]\nenable_easel_krita=true\n' > "$HOME52/.config/kritarc"
XN52=""
for n in $(seq 141 190); do
    [ -e "$ROOT52/tmp/.X$n-lock" ] || [ -e "$ROOT52/tmp/.X11-unix/X$n" ] || { XN52=$n; break; }
done
in52 900 Xvfb ":$XN52" -screen 0 1280x1024x24 -nolisten tcp >"$WORK/xvfb52.log" 2>&1 &
XPID52=$!
for _ in $(seq 100); do [ -e "$ROOT52/tmp/.X11-unix/X$XN52" ] && break; sleep 0.1; done
# The docker starts, kills and restarts its daemon as in 5.1, and the daemon still runs outside
# the chroot: the EASELD it starts is this script inside it, which leaves the chroot for this
# shell's root (/proc/PID/root; the chroot's /proc is the host's) and execs the real easeld
# there. The exec keeps the pid, so the Popen the adapter holds is the daemon itself (its exit
# status, SIGKILL, its log on stderr); it sees the host's files, the chroot's environment (HOME52).
# The driver's real brush strokes come from the host's xdotool the same way (first on Krita's
# PATH; X clients reach the chroot's Xvfb through its abstract socket, the network namespace
# being shared).
SHIM52="$WORK/easeld-outside"
mkdir -p "$WORK/bin52"
outside52() {  # FILE PROGRAM: FILE runs PROGRAM outside the chroot
    printf '#!/bin/sh\n# %s outside the chroot (tests/krita/run.sh)\nexec /usr/sbin/chroot /proc/%s/root %q "$@"\n' \
        "$(basename "$2")" "$$" "$2" > "$1"
    chmod 755 "$1"
}
outside52 "$SHIM52" "$EASELD"
outside52 "$WORK/bin52/xdotool" "$(command -v xdotool)"
cp "$PHOTOS/coffee.png" "$WORK/photos52/"
krun() { local t=$1; shift; in52 "$t" PATH="$WORK/bin52:/usr/bin:/bin" "$@" krita --nosplash; }
G_HOME=$HOME52 G_RT=$WORK/runtime52 G_DRV=$SRC52/tests/krita G_EASELD=$SHIM52 G_PHOTOS=$WORK/photos52
G_DISPLAY=":$XN52"
if [ "$SHOT" = none ]; then G_SHOT=""; else G_SHOT="$WORK/krita-docker-5.2.png"; fi
gui_suite 5.2
if [ -n "$G_SHOT" ] && [ -s "$G_SHOT" ]; then   # next to 5.1's, never a tracked file
    mkdir -p "$(dirname "$SHOT")" && cp "$G_SHOT" "$(dirname "$SHOT")/krita-docker-5.2.png"
    cp "${G_SHOT%.png}-not-found.png" "$(dirname "$SHOT")/krita-docker-5.2-not-found.png" 2>/dev/null
fi
kill "$XPID52" 2>/dev/null; wait "$XPID52" 2>/dev/null; XPID52=""
}
fi
echo "   Krita 5.2 part: $(( $(date +%s) - k52_start )) s"
else
    echo "== Krita 5.2 skipped (EASEL_KRITA_52=0${INSTALLED_HOME:+, installed-plug-in mode})"
fi
echo "   Krita 5.1 (host): $P51 passed, $F51 failed; Krita 5.2 (chroot): $((PASSED - P51)) passed, $((FAILED - F51)) failed"

finish
