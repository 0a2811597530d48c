#!/usr/bin/env bash
# Starts one real Triton Inference Server (from the PyPI wheel nvidia-pytriton, CPU, python
# backend) on 127.0.0.1 with ports it picks, serving REPO; waits until it is ready and prints
# "PID HTTP_PORT GRPC_PORT". The caller stops it by that PID: the server leads its own process
# group (setsid), so `kill -- -PID` also ends its python backend stubs, which outlive a SIGKILLed
# server otherwise. Needs tests/remote/run.sh's venv.
#   start-triton.sh REPO LOG
set -euo pipefail
repo=$1
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
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
libdir=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
read -r http grpc < <("$venv/bin/python" "$here/pick-ports.py" "$state/last-port" 2)
PATH="$venv/bin:$PATH" \
LD_LIBRARY_PATH="$libdir:$site/nvidia_pytriton.libs:${LD_LIBRARY_PATH:-}" \
    setsid "$site/pytriton/tritonserver/bin/tritonserver" --model-repository="$repo" \
    --backend-directory="$state/backends" --http-address=127.0.0.1 --grpc-address=127.0.0.1 \
    --http-port="$http" --grpc-port="$grpc" --allow-metrics=false >"$log" 2>&1 9>&- &
pid=$!
for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "tritonserver exited while starting; its log ($log):" >&2
        tail -30 "$log" >&2
        exit 1
    fi
    if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$http/v2/health/ready', timeout=1)" 2>/dev/null; then
        echo "$pid $http $grpc"
        exit 0
    fi
    sleep 0.2
done
kill "$pid"
echo "tritonserver was not ready within 120 s; its log ($log):" >&2
tail -30 "$log" >&2
exit 1
