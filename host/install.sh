#!/usr/bin/env bash
# Installs Easel for a user, outside the development checkout:
#   host/install.sh [--prefix DIR] [--krita] [--gimp] [--obs] [--systemd] [--models]
#                   [--onnxruntime LIB] [--profile release|debug] [--no-build]
# builds a release of easel, easeld, easel-worker and the built-in plugins (remove-background,
# classic, enhance, generative, and the invert example), and installs
#   DIR/bin/{easel,easeld,easel-worker}       DIR/lib/easel/plugins/libeasel_plugin_*.so
#   DIR/share/easel/manifest.toml             DIR/share/man/man1/easel.1
#   DIR/share/bash-completion/completions/easel (and zsh, fish)
# DIR defaults to ~/.local. ONNX Runtime: LIB if given, else one already found by `easel doctor`,
# else the `onnxruntime` wheel in a venv of its own (DIR/lib/easel/onnxruntime): Debian 12 and
# Ubuntu 24.04 refuse `pip install` into the system Python (PEP 668), a venv is the way.
# --krita, --gimp, --obs install the host plug-ins into those applications' user folders;
# --systemd installs the user units (socket activation); --models fetches the default models
# (their licences are shown; passing --models accepts them) from their upstream homes, or first
# from the mirrors named by EASEL_MODEL_MIRROR or the configuration's `model_mirrors`.
# --profile debug --no-build installs the checkout's existing debug build (what the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$HOME/.local"
profile=release
onnxruntime=""
krita=0 gimp=0 obs=0 systemd=0 models=0 build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --onnxruntime) onnxruntime=$2; shift 2 ;;
        --krita) krita=1; shift ;;
        --gimp) gimp=1; shift ;;
        --obs) obs=1; shift ;;
        --systemd) systemd=1; shift ;;
        --models) models=1; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$profile" in
    release|debug) ;;
    *) echo "install.sh: --profile must be release or debug, not '$profile'" >&2; exit 2 ;;
esac
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
# $1 when it is an absolute path (the XDG spec ignores empty and relative values), else $HOME/$2.
xdg() {
    case "${!1:-}" in
        /*) printf '%s\n' "${!1}" ;;
        *) printf '%s\n' "$HOME/$2" ;;
    esac
}
config_home=$(xdg XDG_CONFIG_HOME .config)
data_home=$(xdg XDG_DATA_HOME .local/share)

packages=(-p easel-cli -p easel-daemon -p easel-worker
          -p easel-plugin-remove-background -p easel-plugin-classic -p easel-plugin-enhance
          -p easel-plugin-generative -p easel-plugin-example-invert)
plugins=(remove_background classic enhance generative example_invert)
built=${CARGO_TARGET_DIR:-target}/$profile
if [ "$build" = 1 ]; then
    echo "building ($profile; a release takes a few minutes on 2 cores)…"
    if [ "$profile" = release ]; then
        cargo build --release --quiet "${packages[@]}"
    else
        cargo build --quiet "${packages[@]}"
    fi
fi

install -d "$prefix/bin" "$prefix/lib/easel/plugins" "$prefix/share/easel" \
    "$prefix/share/man/man1" "$prefix/share/bash-completion/completions" \
    "$prefix/share/zsh/site-functions" "$prefix/share/fish/vendor_completions.d"
for f in easel easeld easel-worker "${plugins[@]/#/libeasel_plugin_}"; do
    case "$f" in libeasel_plugin_*) f=$f.so ;; esac
    if [ ! -f "$built/$f" ]; then
        echo "install.sh: $built/$f is missing: build it (drop --no-build, or cargo build ${packages[*]})" >&2
        exit 1
    fi
done
install -m 0755 "$built/easel" "$built/easeld" "$built/easel-worker" "$prefix/bin/"
# Exactly the plugins built above (not whatever else the target folder holds).
for p in "${plugins[@]}"; do
    install -m 0644 "$built/libeasel_plugin_$p.so" "$prefix/lib/easel/plugins/"
done
install -m 0644 host/models/manifest.toml "$prefix/share/easel/manifest.toml"
"$prefix/bin/easel" man > "$prefix/share/man/man1/easel.1"
"$prefix/bin/easel" completions bash > "$prefix/share/bash-completion/completions/easel"
"$prefix/bin/easel" completions zsh > "$prefix/share/zsh/site-functions/_easel"
"$prefix/bin/easel" completions fish > "$prefix/share/fish/vendor_completions.d/easel.fish"
echo "installed easel, easeld, easel-worker and $(ls "$prefix/lib/easel/plugins" | wc -l) plugins under $prefix"

# ONNX Runtime, and a configuration that names it when it had to be installed.
config="$config_home/easel/easel.toml"
# What the installed `easel doctor` finds (run outside the checkout, so its .venv does not count).
found_onnxruntime() {
    (cd / && "$prefix/bin/easel" --json doctor 2>/dev/null || true) | python3 -c '
import json, sys
checks = [c for c in json.load(sys.stdin)["checks"] if c["check"] == "onnx runtime"]
ok = checks and checks[0]["level"] == "ok"
print(checks[0]["detail"] if ok else "")
sys.exit(0 if ok else 1)'
}
if [ -z "$onnxruntime" ] && found=$(found_onnxruntime); then
    echo "ONNX Runtime: found $found"
elif [ -z "$onnxruntime" ]; then
    venv="$prefix/lib/easel/onnxruntime"
    echo "ONNX Runtime: installing the onnxruntime wheel into $venv (a venv: PEP 668)…"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "onnxruntime==1.31.1"
    echo "ONNX Runtime: $(found_onnxruntime || echo "not found in $venv")"
fi
if [ -n "$onnxruntime" ]; then
    mkdir -p "$(dirname "$config")"
    if [ -f "$config" ] && grep -q '^onnxruntime' "$config"; then
        echo "ONNX Runtime: $config already names one; left as it is"
    else
        printf 'onnxruntime = "%s"\n' "$onnxruntime" >> "$config"
        echo "ONNX Runtime: $onnxruntime (written to $config)"
    fi
fi

if [ "$krita" = 1 ]; then
    # As Krita's importer does: the package into pykrita, its .action into the actions folder.
    pykrita="$data_home/krita/pykrita"
    python3 adapters/krita/build_zip.py --install "$pykrita" >/dev/null
    # Enabled in kritarc's [python] group (one group: a second [python] header is not written).
    kritarc="$config_home/kritarc"
    mkdir -p "$config_home"
    python3 - "$kritarc" <<'PY'
import os, sys
path = sys.argv[1]
lines = open(path).read().splitlines() if os.path.exists(path) else []
key = "enable_easel_krita"
for i, line in enumerate(lines):
    if line.strip().startswith(key + "="):
        lines[i] = key + "=true"
        break
else:
    if "[python]" in (l.strip() for l in lines):
        lines.insert([l.strip() for l in lines].index("[python]") + 1, key + "=true")
    else:
        lines += ["[python]", key + "=true"]
with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
PY
    echo "Krita: installed into $pykrita and enabled (Settings ▸ Dockers ▸ Easel)"
fi
if [ "$gimp" = 1 ]; then
    adapters/gimp/install.sh "$config_home/GIMP/3.0/plug-ins"
fi
if [ "$obs" = 1 ]; then
    if [ -x adapters/obs/install.sh ]; then
        adapters/obs/install.sh
    else
        echo "OBS: adapters/obs/install.sh is not in this checkout" >&2
    fi
fi
if [ "$systemd" = 1 ]; then
    units="$config_home/systemd/user"
    mkdir -p "$units"
    install -m 0644 host/daemon/systemd/easeld.socket "$units/easeld.socket"
    sed "s|@BINDIR@|$prefix/bin|" host/daemon/systemd/easeld.service > "$units/easeld.service"
    if command -v systemctl >/dev/null && systemctl --user show-environment >/dev/null 2>&1; then
        systemctl --user daemon-reload
        systemctl --user enable --now easeld.socket
        echo "systemd: easeld.socket enabled (the daemon starts on the first connection)"
    else
        echo "systemd: units written to $units; run 'systemctl --user enable --now easeld.socket' in your session"
    fi
fi
if [ "$models" = 1 ]; then
    "$prefix/bin/easel" models fetch --defaults --accept-licence
fi
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "add $prefix/bin to your PATH" ;;
esac
echo "check it with: $prefix/bin/easel doctor"
