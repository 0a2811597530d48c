#!/usr/bin/env bash
# Local ONNX Runtime vs a real Triton (nvidia-pytriton, CPU, python backend) over gRPC on
# loopback: one 1024² remove background and 4-client throughput. Uses the venv and model
# repository tests/remote/run.sh prepares (run that first); prints the figures of one run.
#   benches/remote.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
state=$(pwd)/target/remote
export EASEL_REMOTE_DIR=$state
[ -f "$state/ready" ] || { echo "run tests/remote/run.sh first (it installs Triton)" >&2; exit 1; }
cargo build --quiet -p easel-benches --example remote_inference
cargo build --quiet -p easel-daemon -p easel-worker -p easel-plugin-remove-background
read -r pid http grpc < <(tests/remote/start-triton.sh "$state/repo" "$state/bench-triton.log")
trap 'kill "$pid"' EXIT
target/debug/examples/remote_inference "grpc://127.0.0.1:$grpc" "$(cd ../shared/models && pwd)" "${1:-15}"
