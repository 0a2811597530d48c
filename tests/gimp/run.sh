#!/usr/bin/env bash
# GIMP adapter tests inside real GIMP 3: builds (once, reused) a Debian 13 chroot holding GIMP 3
# (Debian 12 has only 2.10), installs the plug-in with adapters/gimp/install.sh into a fresh HOME,
# starts the real daemon outside the chroot (its socket folder is bind-mounted in at the same
# path), and runs gimp-console-3.0 in batch mode with tests/gimp/batch_tests.py; then checks
# registration from the cache and from the built-in list with the daemon stopped. Judged by the
# results files the tests write; ends with "N passed, M failed", non-zero on failure. Root only.
#
# Also: install.sh's folders with a temporary HOME (test_install.py), the template catalogues
# and the wrapped-strings check of adapters/i18n/extract.py (test_i18n.py), and, last, GIMP run
# with a test catalogue in the installed plug-in's locale/de and LANGUAGE=de (i18n_tests.py),
# after the help domain's check (help_tests.py).
#
# Generative edits: the daemon gets the key and address of a local stand-in of the Gemini API
# (tests/generative/fake_gemini.py on 127.0.0.1, outside the chroot: same network) from
# EASEL_GEMINI_API_KEY / EASEL_GEMINI_BASE_URL; the batch tests edit a selection from a prompt and
# refine it twice. Afterwards the key must be in no file the run wrote.
#
# Environment: EASELD (default target/debug/easeld), EASEL_GIMP_CHROOT (default
# /opt/easel-gimp-trixie), EASEL_GIMP_KEEP=1 keeps the work folder, EASEL_GIMP_SCREENSHOT
# (default target/gimp/gimp-dialog.png, Remove background's dialog under Xvfb, with the folder
# dialog beside it as gimp-batch-dialog.png; never a tracked file: copy one to docs/images on
# purpose; "none" to skip), EASEL_GIMP_SKIP_SAFETY=1 leaves out the data safety part (the
# longest; for a quick run while working on something else). EASEL_INSTALLED_HOME and
# EASEL_INSTALLED_PREFIX (tests/install/run.sh): test a user install that host/install.sh --gimp
# made instead, the plug-in in that HOME's GIMP folder (bind-mounted in) and PREFIX/bin/easeld.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/tests/gimp"
INSTALLED_HOME=${EASEL_INSTALLED_HOME:-}
[ -n "$INSTALLED_HOME" ] && EASELD=${EASELD:-${EASEL_INSTALLED_PREFIX:?needed with EASEL_INSTALLED_HOME}/bin/easeld}
EASELD=${EASELD:-$REPO/target/debug/easeld}
MISBEHAVE="$(dirname "$EASELD")/libeasel_testing_misbehave.so"
[ -n "$INSTALLED_HOME" ] && MISBEHAVE="$REPO/target/debug/libeasel_testing_misbehave.so"
PHOTOS=${EASEL_PHOTOS:-$REPO/../shared/fixtures/photos}
MODELS=${EASEL_MODELS:-$REPO/../shared/models}
ROOT=${EASEL_GIMP_CHROOT:-/opt/easel-gimp-trixie}
SHOT=${EASEL_GIMP_SCREENSHOT:-$REPO/target/gimp/gimp-dialog.png}

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

[ "$(id -u)" = 0 ] || { fail "run.sh needs root (debootstrap, chroot, mounts)"; finish; }
[ -x "$EASELD" ] || { fail "easeld not found at $EASELD (cargo build --workspace)"; finish; }
[ -e "$MISBEHAVE" ] || { fail "$MISBEHAVE not built"; finish; }

# ---------------------------------------------------------------------------------- chroot
echo "== GIMP 3 chroot at $ROOT"
t0=$(date +%s)
if timeout 2400 "$HERE/chroot.sh" build "$ROOT" > /tmp/easel-gimp-chroot.log 2>&1; then
    pass
    echo "   ready after $(( $(date +%s) - t0 )) s: $(tail -2 /tmp/easel-gimp-chroot.log | head -1)"
else
    tail -30 /tmp/easel-gimp-chroot.log
    fail "building the GIMP 3 chroot (log: /tmp/easel-gimp-chroot.log)"; finish
fi

WORK=$(mktemp -d /tmp/easel-gimp-test.XXXXXX)
chmod 755 "$WORK"
MOUNTS=()
DPID=""
GPID=""
XPID=""
cleanup() {
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null
    fi
    if [ -n "${CPID:-}" ] && kill -0 "$CPID" 2>/dev/null; then  # daemon_ctl.py stops its daemon
        touch "$WORK/ctl/quit"; wait "$CPID" 2>/dev/null
    fi
    [ -n "$GPID" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
    [ -n "$XPID" ] && kill "$XPID" 2>/dev/null && wait "$XPID" 2>/dev/null
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null
    done
    if [ "${EASEL_GIMP_KEEP:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bind() {  # bind SRC (outside) to the same path inside the chroot
    mkdir -p "$ROOT$1"
    if mountpoint -q "$ROOT$1"; then return 0; fi  # another run holds it; it unmounts its own
    mount --bind "$1" "$ROOT$1" && MOUNTS+=("$ROOT$1")
}
for m in /proc /sys /dev /dev/shm "$WORK"; do
    bind "$m" || { fail "bind-mounting $m into the chroot"; finish; }
done

export HOME_IN="${INSTALLED_HOME:-$WORK/home}"
if [ -n "$INSTALLED_HOME" ]; then bind "$HOME_IN" || { fail "bind-mounting $HOME_IN"; finish; }; fi
mkdir -p "$HOME_IN/.config/GIMP/3.0/plug-ins" "$WORK/plugins" "$WORK/photos" "$WORK/run"
mkdir -m 700 "$WORK/runtime"
chmod 700 "$WORK/run"
cp "$PHOTOS/car-1.jpg" "$PHOTOS/chelsea.png" "$PHOTOS/coffee.png" "$WORK/photos/"
cp "$HERE/batch_tests.py" "$HERE/registration_tests.py" "$WORK/"
ln -s "$MISBEHAVE" "$WORK/plugins/"
SOCK="$WORK/run/easeld.sock"
cat > "$WORK/easeld.toml" <<TOML
socket = "$SOCK"
plugin_dirs = ["$WORK/plugins"]
model_dirs = ["$MODELS"]
TOML

PLUGDIR="$HOME_IN/.config/GIMP/3.0/plug-ins"
if [ -n "$INSTALLED_HOME" ]; then
    echo "== the plug-in host/install.sh installed into $PLUGDIR"
else
    echo "== installing the plug-in with adapters/gimp/install.sh"
fi
if { [ -n "$INSTALLED_HOME" ] || "$REPO/adapters/gimp/install.sh" "$PLUGDIR" >/dev/null; } \
        && [ -x "$PLUGDIR/easel-gimp/easel-gimp.py" ] \
        && [ -f "$PLUGDIR/easel-gimp/easel_client/client.py" ]; then
    pass
else
    fail "install.sh puts easel-gimp (with easel_client inside) into the plug-ins folder"; finish
fi

echo "== unit tests of the plug-in's schema mapping (the chroot's Python)"
cp "$HERE/test_ops.py" "$WORK/"
ulog="$WORK/unit.log"
timeout 120 chroot "$ROOT" env -i PATH=/usr/bin:/bin PYTHONPATH="$PLUGDIR/easel-gimp:$WORK" \
    python3 -m unittest -v test_ops >"$ulog" 2>&1
up=$(grep -c '\.\.\. ok$' "$ulog")
uf=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$ulog")
PASSED=$((PASSED + up))
if [ "$uf" -gt 0 ] || [ "$up" -eq 0 ]; then
    FAILED=$((FAILED + (uf > 0 ? uf : 1))); FAILURES+=("test_ops.py"); tail -30 "$ulog"
fi
echo "   $up passed, $uf failed"

host_unit() {  # MODULE: a plain-Python unittest module of this folder, on the machine's Python
    local log="$WORK/$1.log" up uf
    (cd "$HERE" && timeout 120 python3 -m unittest -v "$1") >"$log" 2>&1
    up=$(grep -c '\.\.\. ok$' "$log"); uf=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$log")
    PASSED=$((PASSED + up))
    if [ "$uf" -gt 0 ] || [ "$up" -eq 0 ]; then
        FAILED=$((FAILED + (uf > 0 ? uf : 1))); FAILURES+=("$1.py"); tail -30 "$log"
    fi
    echo "   $up passed, $uf failed"
}
echo "== install.sh's folders (GIMP 3's per-version folders, Flatpak GIMP's), a temporary HOME"
host_unit test_install
echo "== the template catalogues (adapters/i18n/extract.py) and wrapped user-facing strings"
host_unit test_i18n

echo "== a local Gemini stand-in for the generative operations"
GEN_KEY="AIza-easel-gimp-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
GEN_LOG="$WORK/gen-requests.jsonl"
python3 "$REPO/tests/generative/fake_gemini.py" --key "$GEN_KEY" --log "$GEN_LOG" \
    --port-file "$WORK/gen.port" >"$WORK/gen.log" 2>&1 &
GPID=$!
for _ in $(seq 100); do [ -s "$WORK/gen.port" ] && break; sleep 0.1; done
[ -s "$WORK/gen.port" ] && pass || { fail "the local Gemini stand-in did not start"; cat "$WORK/gen.log"; }
GEN_URL="http://127.0.0.1:$(cat "$WORK/gen.port" 2>/dev/null)"

echo "== starting easeld outside the chroot"
EASEL_GEMINI_API_KEY="$GEN_KEY" EASEL_GEMINI_BASE_URL="$GEN_URL" \
    "$EASELD" --config "$WORK/easeld.toml" >"$WORK/easeld.log" 2>&1 &
DPID=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] && pass || { fail "easeld did not create $SOCK"; tail -20 "$WORK/easeld.log"; finish; }

# gimp LABEL SCRIPT RESULTS [ENV...]: one gimp-console-3.0 batch run inside the chroot
gimp_run() {
    local label=$1 script=$2 results=$3; shift 3
    local t0 rc
    t0=$(date +%s)
    timeout -k 10 600 chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME="$HOME_IN" \
        XDG_RUNTIME_DIR="$WORK/runtime" LANG=C.UTF-8 EASEL_SOCKET="$SOCK" \
        EASEL_GIMP_RESULTS="$results" EASEL_PHOTOS="$WORK/photos" EASEL_GIMP_WORK="$WORK" \
        EASEL_GIMP_PLUGIN_DIR="$PLUGDIR/easel-gimp" EASEL_GIMP_TRACE="$WORK/$label.trace" "$@" \
        gimp-console-3.0 -i --quit --batch-interpreter=python-fu-eval \
        -b "exec(open('$script').read())" >"$WORK/$label.log" 2>&1
    rc=$?
    echo "   gimp-console-3.0 ($label) exited $rc after $(( $(date +%s) - t0 )) s"
    [ "$rc" -eq 124 ] && fail "$label: GIMP timed out"
    return 0
}

# judge RESULTS.json LABEL: adds its checks to the totals (judged with the chroot's Python)
judge() {
    local out
    if [ ! -s "$1" ]; then fail "$2: no results file ($1)"; tail -40 "$WORK/$2.log"; return; fi
    out=$(chroot "$ROOT" python3 - "$1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
checks = d.get("checks", [])
print(sum(c["ok"] for c in checks), sum(not c["ok"] for c in checks), int(bool(d.get("info", {}).get("done"))))
for c in checks:
    if not c["ok"]:
        print("FAILED\t" + c["name"] + "\t" + c.get("detail", "").replace("\n", " | ")[:800])
for k, v in d.get("timings_ms", {}).items():
    print(f"TIMING\t{k}\t{v}")
PYEOF
) || { fail "$2: unreadable results file"; return; }
    local counts p f done
    read -r p f done <<<"$(echo "$out" | head -1)"
    PASSED=$((PASSED + p))
    while IFS=$'\t' read -r kind name detail; do
        case "$kind" in
            FAILED) FAILED=$((FAILED + 1)); FAILURES+=("$2: $name"); echo "FAIL $2: $name: $detail" ;;
            TIMING) echo "   time: $name: $detail ms" ;;
        esac
    done < <(echo "$out" | tail -n +2)
    echo "   $2: $p passed, $f failed"
    [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && fail "$2: no checks ran"
    [ "$done" = 1 ] || { fail "$2: the test script did not finish"; tail -30 "$WORK/$2.log"; }
}

echo "== GIMP 3 batch mode: the Easel procedures on real photos with the real daemon"
gimp_run main "$WORK/batch_tests.py" "$WORK/main.json" EASEL_GEN_LOG="$GEN_LOG" \
    EASEL_GEN_KEY="$GEN_KEY"
judge "$WORK/main.json" main
# The key was only in the daemon's environment: no log, image or setting may hold it.
leaks=$(grep -rlF "$GEN_KEY" "$WORK" 2>/dev/null)
if [ -s "$GEN_LOG" ] && [ -z "$leaks" ]; then pass; else fail "the API key leaked into: ${leaks:-(no requests logged)}"; fi
sleep 0.5
if kill -0 "$DPID" 2>/dev/null; then
    fail "easeld still running after the test asked it to shut down"
else
    pass; wait "$DPID" 2>/dev/null; DPID=""
fi

if [ "${EASEL_GIMP_SKIP_SAFETY:-0}" = 1 ]; then
    echo "== data safety: skipped (EASEL_GIMP_SKIP_SAFETY=1)"
else
echo "== data safety: the daemon, its socket and the image changing under a running job"
cp "$HERE/safety_tests.py" "$HERE/safety_hook.py" "$WORK/"
mkdir -p "$WORK/ctl"
python3 "$HERE/daemon_ctl.py" "$EASELD" "$WORK/easeld.toml" "$SOCK" "$WORK/ctl" "$WORK/easeld-safety.log" &
CPID=$!
for _ in $(seq 300); do [ -s "$WORK/ctl/ready.json" ] && break; sleep 0.05; done
gimp_run safety "$WORK/safety_tests.py" "$WORK/safety.json" EASEL_GIMP_CTL="$WORK/ctl" \
    EASEL_GIMP_TEST_HOOK="$WORK/safety_hook.py"
judge "$WORK/safety.json" safety
python3 -c 'import json,sys; print("   safety cases:", json.load(open(sys.argv[1]))["info"].get("cases"))' \
    "$WORK/safety.json" 2>/dev/null
touch "$WORK/ctl/quit"; wait "$CPID" 2>/dev/null; CPID=""
fi

echo "== registering without a daemon: from the cached capabilities, then from the built-in list"
rm -f "$HOME_IN/.config/GIMP/3.0/pluginrc"   # makes GIMP query the plug-in again
gimp_run cache "$WORK/registration_tests.py" "$WORK/cache.json" EASEL_GIMP_EXPECT=cache
judge "$WORK/cache.json" cache

echo "== the procedures' dialogs under Xvfb (registered from the cache, no daemon needed)"
cp "$HERE/dialog_tests.py" "$WORK/"
XN=""
for n in $(seq 93 140); do
    [ -e "$ROOT/tmp/.X$n-lock" ] || [ -e "$ROOT/tmp/.X11-unix/X$n" ] || { XN=$n; break; }
done
chroot "$ROOT" Xvfb ":$XN" -screen 0 1024x768x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XPID=$!
for _ in $(seq 100); do [ -e "$ROOT/tmp/.X11-unix/X$XN" ] && break; sleep 0.1; done
mkdir -p "$WORK/shots"
SHOTS="$WORK/shots"; [ "$SHOT" = none ] && SHOTS=""
gimp_run dialog "$WORK/dialog_tests.py" "$WORK/dialog.json" DISPLAY=":$XN" EASEL_GIMP_SHOTS="$SHOTS"
kill "$XPID" 2>/dev/null; wait "$XPID" 2>/dev/null; XPID=""
judge "$WORK/dialog.json" dialog
if [ -n "$SHOTS" ]; then   # into target/ (or EASEL_GIMP_SCREENSHOT), never a tracked file
    if [ -s "$SHOTS/gimp-dialog.png" ] && [ -s "$SHOTS/gimp-batch-dialog.png" ]; then
        mkdir -p "$(dirname "$SHOT")" && cp "$SHOTS/gimp-dialog.png" "$SHOT" \
            && cp "$SHOTS/gimp-batch-dialog.png" "$(dirname "$SHOT")/gimp-batch-dialog.png" \
            && pass && echo "   screenshots: $SHOT, $(dirname "$SHOT")/gimp-batch-dialog.png"
    else
        fail "the dialog tests saved no screenshots in $SHOTS"
    fi
fi

rm -f "$HOME_IN/.config/GIMP/3.0/pluginrc" "$HOME_IN/.config/GIMP/3.0/easel/capabilities.json"
gimp_run builtin "$WORK/registration_tests.py" "$WORK/builtin.json" EASEL_GIMP_EXPECT=built-in
judge "$WORK/builtin.json" builtin

echo "== the plug-in's help domain: recorded by GIMP, every procedure's help id resolves to its page"
cp "$HERE/help_tests.py" "$WORK/"
rm -f "$HOME_IN/.config/GIMP/3.0/pluginrc"   # queried again: GIMP records the help domain
gimp_run help "$WORK/help_tests.py" "$WORK/help.json"
judge "$WORK/help.json" help

echo "== the plug-in's gettext domain in GIMP: a test catalogue in its locale folder, LANGUAGE=de"
cp "$HERE/i18n_tests.py" "$WORK/"
MO="$PLUGDIR/easel-gimp/locale/de/LC_MESSAGES/easel-gimp.mo"
python3 "$HERE/test_i18n.py" --make-mo "$MO" && pass || fail "writing the test catalogue $MO"
rm -f "$HOME_IN/.config/GIMP/3.0/pluginrc"   # registered again, in German
gimp_run i18n "$WORK/i18n_tests.py" "$WORK/i18n.json" LANGUAGE=de
judge "$WORK/i18n.json" i18n
rm -rf "$PLUGDIR/easel-gimp/locale/de" "$HOME_IN/.config/GIMP/3.0/pluginrc"

finish
