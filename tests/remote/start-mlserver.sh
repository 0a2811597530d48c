#!/usr/bin/env bash
# Starts MLServer (a second KServe v2 implementation, JSON tensors only) on 127.0.0.1 with a
# port it picks, serving the model folders under DIR (model-settings.json each, the runtime in
# tests/remote/mlserver_onnx.py); waits until ready and prints "PID HTTP_PORT".
#   start-mlserver.sh DIR LOG
set -euo pipefail
dir=$1
log=$2
here=$(cd "$(dirname "$0")" && pwd)
state=${EASEL_REMOTE_DIR:-$here/../../target/remote}
venv=$state/venv
# One start at a time: ports are picked free and only later bound by the server, so two starts
# at once could pick the same ones and the second would find the first's server ready there.
# The lock is released when this script exits (the server does not inherit it).
mkdir -p "$state"
exec 9>"$state/start.lock"
flock 9
read -r http grpc metrics < <("$venv/bin/python" "$here/pick-ports.py" "$state/last-port" 3)
cat >"$dir/settings.json" <<JSON
{"host": "127.0.0.1", "http_port": $http, "grpc_port": $grpc, "metrics_port": $metrics,
 "parallel_workers": 0, "metrics_endpoint": null}
JSON
cp "$here/mlserver_onnx.py" "$dir/"
(cd "$dir" && PYTHONPATH="$dir" exec setsid "$venv/bin/mlserver" start . >"$log" 2>&1) 9>&- &
pid=$!
for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "mlserver exited while starting; its log ($log):" >&2
        tail -30 "$log" >&2
        exit 1
    fi
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$http/v2/health/ready', timeout=1)" 2>/dev/null; then
        echo "$pid $http"
        exit 0
    fi
    sleep 0.2
done
kill "$pid"
echo "mlserver was not ready within 120 s; its log ($log):" >&2
tail -30 "$log" >&2
exit 1
