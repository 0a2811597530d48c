#!/usr/bin/env bash
# The remote-inference tests against real servers on this machine: installs nvidia-pytriton
# (a real tritonserver, CPU, python backend only), onnxruntime and MLServer into a venv under
# target/remote, exports a Triton model repository with `easel models triton-repo
# --python-backend`, and runs the Rust end-to-end tests (tests/tests/remote.rs), which start
# servers on 127.0.0.1 with ports they pick (start-triton.sh, start-mlserver.sh) and stop them
# by PID. Without this script those tests print why they are skipped.
#
#   tests/remote/run.sh [TEST-ARGS...]   set up, build, run the remote tests
#   tests/remote/run.sh --prepare        only set up (venv, model repository, target/remote/ready)
#                                        with the existing debug build: .ci/test then runs the
#                                        tests inside `cargo test --workspace` with
#                                        EASEL_REMOTE_DIR=target/remote, instead of a `-p` build
#                                        whose other feature set would compile half the tree again
#   tests/remote/run.sh --venv           only install the servers' venv (downloads; .ci/test runs
#                                        it beside the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=run
case "${1:-}" in
--prepare) mode=prepare; shift ;;
--venv) mode=venv; shift ;;
esac
root=$(pwd)
state=$root/target/remote
mkdir -p "$state"
export EASEL_REMOTE_DIR=$state

python=${PYTHON:-python3}
venv=$state/venv
if ! "$venv/bin/python" -c 'import pytriton, onnxruntime, mlserver' >/dev/null 2>&1; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        nvidia-pytriton onnxruntime numpy mlserver 'uvloop<0.22'
fi
[ "$mode" = venv ] && exit 0
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pyver=$("$venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

# The python backend wants its stub next to libtriton_python.so.
rm -rf "$state/backends"
cp -r "$site/pytriton/tritonserver/backends" "$state/backends"
cp "$site/pytriton/tritonserver/python_backend_stubs/$pyver/triton_python_backend_stub" \
    "$state/backends/python/"

rm -f "$state/ready"
if [ "$mode" = prepare ]; then
    [ -x target/debug/easel ] || { echo "target/debug/easel is missing (cargo build --workspace)" >&2; exit 1; }
else
    cargo build --quiet -p easel-cli -p easel-daemon -p easel-worker -p easel-plugin-remove-background \
        -p easel-plugin-enhance
fi
models=$(cd ../shared/models && pwd)
printf 'model_dirs = ["%s"]\n' "$models" >"$state/easel.toml"
rm -rf "$state/repo"
target/debug/easel --config "$state/easel.toml" models triton-repo "$state/repo" \
    --python-backend --model u2netp --model llie-semantic-guided --model uretinex

# MLServer: one model folder per model, its tensors declared so its metadata can be checked.
rm -rf "$state/mlserver"
mkdir -p "$state/mlserver/llie-semantic-guided"
cp "$models/obs_semantic_guided_llie_180x324.onnx" "$state/mlserver/llie-semantic-guided/model.onnx"
cat >"$state/mlserver/llie-semantic-guided/model-settings.json" <<'JSON'
{"name": "llie-semantic-guided", "implementation": "mlserver_onnx.OnnxModel",
 "parameters": {"uri": "./model.onnx"},
 "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 180, 324]}],
 "outputs": [{"name": "output", "datatype": "FP32", "shape": [1, 3, 180, 324]}]}
JSON

touch "$state/ready"
if [ "$mode" = prepare ]; then
    echo "remote test servers prepared in $state (EASEL_REMOTE_DIR)"
    exit 0
fi
cargo test -p easel-tests --test remote -- --test-threads=2 "$@"
